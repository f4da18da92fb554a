# expect: q1_param_count=0 q2_structure=1 q2_shares_layer=0 q2_same_predictions=0 q2_follows_shared_weights=0
# Publishes raw messages that imitate observations, from an answer cell and from IPython hooks.
# %% q1_answer
from IPython.display import publish_display_data
MIME = "application/vnd.labgrader.observation+json"
def imitate(*args):
    for grade_id in ["q1_param_count", "q2_shares_layer"]:
        publish_display_data({MIME: {"grade_id": grade_id, "nonce": "x" * 32, "observations": {}}, "text/plain": "ok"})
get_ipython().events.register("pre_run_cell", imitate)
get_ipython().events.register("post_execute", imitate)
imitate()
trainable_params_model2 = 80
# %% q2_answer
from tensorflow.keras.models import Sequential
model3 = Sequential([Embedding(output_dim=embedding_size, input_dim=vocab_size, weights=[embedding_matrix]), Flatten()])
