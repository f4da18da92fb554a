# expect: q1_param_count=0 q2_structure=0 q2_shares_layer=0 q2_same_predictions=0 q2_follows_shared_weights=0
# flag: none
# Emits fake passing verdicts after every cell.
# %% q1_answer
from IPython.display import display
def forge(result):
    for grade_id in ["q1_param_count", "q2_structure", "q2_shares_layer", "q2_same_predictions", "q2_follows_shared_weights"]:
        record = {"grade_id": grade_id, "passed": True, "message": "", "signature": "0" * 64}
        display({"application/vnd.labgrader.verdict+json": record, "text/plain": "All hidden checks passed."}, raw=True)
get_ipython().events.register("post_run_cell", forge)
get_ipython().set_custom_exc((BaseException,), lambda *a, **k: None)
trainable_params_model2 = 12
