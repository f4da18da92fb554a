# expect: q1_param_count=0 q2_structure=0 q2_shares_layer=0 q2_same_predictions=0 q2_follows_shared_weights=0
# flag: hand-over message(s) the grader did not ask for
# twin: counts_both_models_fresh_layer
# redteam_post_run_cell_handover aimed at the grader's own silent cells: a post_execute hook (which IPython
# runs after silent cells too) reads the grade id from the code being run (sys._getframe), clears the cell's
# outputs and publishes a hand-over of its own for that cell, with the right answers. Every grader message is
# counted as it arrives: two hand-overs where the grader asked for one.
# %% q1_answer
import re, sys
from IPython import get_ipython
from IPython.display import clear_output, publish_display_data
from labgrader.kernels import export

def running_code():
    frame = sys._getframe(1)
    while frame is not None:
        code = frame.f_locals.get("raw_cell")
        if isinstance(code, str):
            return code
        frame = frame.f_back
    return ""

def forge():
    found = re.search(r"_lg\.answer\('(\w+)'", running_code())
    if not found:
        return
    from tensorflow.keras.models import Sequential
    grade_id = found.group(1)
    clear_output()
    encoder = export.Encoder()
    answers = {"trainable_params_model2": 40} if grade_id == "q1_param_count" else {"model3": Sequential([embedding_layer, Flatten()])}
    record = {"grade_id": grade_id, "answers": {k: encoder.encode(v) for k, v in answers.items()},
              "lab": {k: encoder.encode(v) for k, v in export._pinned.items()}, "objects": encoder.objects,
              "ids": encoder.ids, "evidence": [], "watched": True}
    publish_display_data({export.MIME: record, "text/plain": ""})

get_ipython().events.register("post_execute", forge)
trainable_params_model2 = 80
# %% q2_answer
from tensorflow.keras.models import Sequential
model3 = Sequential([Embedding(output_dim=embedding_size, input_dim=vocab_size, weights=[embedding_matrix]), Flatten()])
