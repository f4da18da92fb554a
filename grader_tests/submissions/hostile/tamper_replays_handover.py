# expect: q1_param_count=0 q2_structure=0 q2_shares_layer=0 q2_same_predictions=0 q2_follows_shared_weights=0
# flag: the grader did not ask for
# Replays a hand-over of its own making into every later cell through the post_run_cell hook (a record
# crafted from model2, claiming it is model3).
# %% q1_answer
from IPython.display import display
from labgrader.kernels.export import MIME, Encoder
def replay(*args):
    encoder = Encoder()
    for grade_id in ["q2_shares_layer", "q2_follows_shared_weights"]:
        record = {"grade_id": grade_id, "answers": {"model3": encoder.encode(model2)},
                  "lab": {"model": encoder.encode(model), "model2": encoder.encode(model2)},
                  "objects": encoder.objects, "ids": encoder.ids, "evidence": [], "watched": True}
        display({MIME: record}, raw=True)
get_ipython().events.register("post_run_cell", replay)
trainable_params_model2 = 80
# %% q2_answer
from tensorflow.keras.models import Sequential
model3 = Sequential([Embedding(output_dim=embedding_size, input_dim=vocab_size, weights=[embedding_matrix]), Flatten()])
