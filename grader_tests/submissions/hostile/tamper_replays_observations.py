# expect: q1_param_count=0 q2_structure=1 q2_shares_layer=0 q2_same_predictions=0 q2_follows_shared_weights=0
# Replays a correct notebook's observation records (with their nonces) into every later cell.
# %% q1_answer
from IPython.display import display
MIME = "application/vnd.labgrader.observation+json"
def replay(*args):
    for grade_id in ["q1_param_count", "q2_structure", "q2_shares_layer", "q2_same_predictions", "q2_follows_shared_weights"]:
        display({MIME: {"grade_id": grade_id, "nonce": "4b2076998c7fde53c1eeacc65fb9b801",
                        "observations": {"answer": {"kind": "integer", "type": "int", "module": "builtins", "value": 40}}}}, raw=True)
get_ipython().events.register("post_run_cell", replay)
replay()
trainable_params_model2 = 80
# %% q2_answer
from tensorflow.keras.models import Sequential
model3 = Sequential([Embedding(output_dim=embedding_size, input_dim=vocab_size, weights=[embedding_matrix]), Flatten()])
