# expect: q1_param_count=0 q2_structure=0 q2_shares_layer=0 q2_same_predictions=0 q2_follows_shared_weights=0
# flag: none
# Outputs that would run script in the feedback page (the student's and the instructor's browser):
# HTML, SVG, JavaScript, Markdown with HTML, a forged verdict marker, HTML in a stream and in an error.
# Each payload sets window.pwned; feedback must show them as text (grader_tests/reports/test_outputs_hostile.py).
# %% after demo_indexing
from IPython.display import HTML, SVG, Javascript, Markdown, display

display(HTML('<script>window.pwned = 1</script><img src="x" onerror="window.pwned = 1">XSS-HTML-PAYLOAD'))
display(SVG('<svg xmlns="http://www.w3.org/2000/svg" onload="window.pwned = 1"><script>window.pwned = 1</script></svg>'))
display(Javascript("window.pwned = 1"))
display(Markdown('<img src="x" onerror="window.pwned = 1"> XSS-MARKDOWN-PAYLOAD [x](javascript:window.pwned=1)'))
display({"text/html": '<img src="x" onerror="window.pwned = 1">XSS-FORGED-VERDICT', "text/plain": "forged"},
        raw=True, metadata={"labgrader": "verdict"})
display({"image/png": '" onerror="window.pwned = 1', "text/plain": "XSS-BAD-PNG"}, raw=True)
print('<script>window.pwned = 1</script>XSS-STREAM-PAYLOAD')
# %% after demo_predict_one
raise ValueError('<img src="x" onerror="window.pwned = 1">XSS-ERROR-PAYLOAD')
# %% q1_answer
trainable_params_model2 = 12
# %% q2_answer
model3 = None
