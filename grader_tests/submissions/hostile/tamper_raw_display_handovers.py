# expect: q1_param_count=0 q2_structure=0 q2_shares_layer=0 q2_same_predictions=0 q2_follows_shared_weights=0
# flag: hand-overs to the grader written outside a test cell
# flag: the grader did not ask for
# Publishes hand-overs of its own (model2 as model3) from an answer cell and from IPython hooks that run after
# every cell, test cells included.
# %% q1_answer
from IPython.display import publish_display_data
from labgrader.kernels.export import MIME, Encoder
def imitate(*args):
    encoder = Encoder()
    for grade_id in ["q2_structure", "q2_shares_layer", "q2_same_predictions", "q2_follows_shared_weights"]:
        record = {"grade_id": grade_id, "answers": {"model3": encoder.encode(globals()["model2"])},
                  "lab": {"model": encoder.encode(model), "model2": encoder.encode(model2)},
                  "objects": encoder.objects, "ids": encoder.ids, "evidence": [], "watched": True}
        publish_display_data({MIME: record, "text/plain": "ok"})
get_ipython().events.register("post_run_cell", imitate)
imitate()
trainable_params_model2 = 80
# %% q2_answer
from tensorflow.keras.models import Sequential
model3 = Sequential([Embedding(output_dim=embedding_size, input_dim=vocab_size, weights=[embedding_matrix]), Flatten()])
