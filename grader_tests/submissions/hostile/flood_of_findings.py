# expect: q1_param_count=0 q2_structure=0 q2_shares_layer=0 q2_same_predictions=0 q2_follows_shared_weights=0
# flag: the grader did not ask for
# Buries the instructor under findings: after every cell, 400 hand-overs each malformed in its own way (a
# different bad reference), so that every one would be its own flag line in the summary, the report and the
# gradebook. The grader counts them as they arrive (one flag per cell), and flags are listed the same capped
# way everywhere (the first few, then how many more).
# %% q1_answer
from IPython.display import publish_display_data
from labgrader.kernels.export import MIME
def flood(*args):
    for i in range(400):
        publish_display_data({MIME: {"grade_id": "q", "answers": {}, "lab": {},
                                     "objects": {f"bad{i}": {}}, "evidence": []}})
get_ipython().events.register("post_run_cell", flood)
trainable_params_model2 = 80
# %% q2_answer
from tensorflow.keras.models import Sequential
model3 = Sequential([Embedding(output_dim=embedding_size, input_dim=vocab_size, weights=[embedding_matrix]), Flatten()])
