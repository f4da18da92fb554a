# expect: q1_param_count=2 q2_structure=1 q2_shares_layer=2 q2_same_predictions=1 q2_follows_shared_weights=2
# flag: none
# Outputs that attack the instructor who opens this submission in nbgrader's formgrader, which shows
# it in the Jupyter server's own origin (the instructor's session), inside JupyterLab. Each payload
# marks window.top.__pwned, reads the solutions through /api/contents and writes them into the page,
# and asks JupyterLab to open a terminal (nbgrader's lab extension runs any command the formgrader
# frame posts). HTML, SVG, JavaScript, a widget view, and an object's _repr_html_ (an execute_result).
# The answers are right: the payloads must change no score (flagged for their imports, graded all
# the same). grader_tests/jupyterlab/test_instructor_lab.py adds what the snippet format cannot
# carry (a markdown cell and a raw cell with raw HTML, widget state) and opens it in Chromium.
# %% after q1_param_count
from IPython.display import HTML, SVG, Javascript, display

ATTACK = ('try { window.top.__pwned = 1 } catch (e) {} try { document.title = "PWN" + "ED" } catch (e) {} '
          'fetch("/api/contents/source/embeddings/embeddings.ipynb").then(r => r.text())'
          '.then(t => document.body.prepend("LEAK" + "ED " + t.slice(0, 300))); '
          'window.parent.postMessage(JSON.stringify({command: "terminal:create-new", arguments: {}}), "*")')


class Report:
    def _repr_html_(self):
        return f"<script>{ATTACK}</script><img src=x onerror='{ATTACK}'>FG-REPR-HTML"


display(HTML(f"<script>{ATTACK}</script><img src=x onerror='{ATTACK}'>FG-HTML"))
display(SVG(f"<svg xmlns='http://www.w3.org/2000/svg' onload='{ATTACK}'><script>{ATTACK}</script>"
            "<text y='20'>FG-SVG</text></svg>"))
display(Javascript(ATTACK + " // FG-JAVASCRIPT"))
display({"application/vnd.jupyter.widget-view+json": {"model_id": "fg-widget", "version_major": 2,
                                                      "version_minor": 0},
         "text/plain": "FG-WIDGET-VIEW"}, raw=True)
Report()
# %% q1_answer
trainable_params_model2 = 40
# %% q2_answer
from tensorflow.keras.models import Sequential

model3 = Sequential([embedding_layer, Flatten()])
