# expect: q1_param_count=0 q2_structure=0 q2_shares_layer=0 q2_same_predictions=0 q2_follows_shared_weights=0
# flag: model3 changed between the hand-overs of q2_structure and q2_shares_layer with no cell
# twin: counts_both_models_fresh_layer
# A pre_run_cell hook that rebinds model3 before each test cell to a model that passes that cell's check: a
# fresh-layer model for the shape, the shared layer under a Dense for "contains the layer", a copy of the
# weights for "same predictions". No single model passes them all; each check used to judge another one.
# Every hand-over of one name must now describe one object (kernel identities, structure, weights).
# %% q1_answer
trainable_params_model2 = 80
# %% q2_answer
from tensorflow.keras.models import Sequential
from tensorflow.keras.layers import Dense
from IPython import get_ipython

ids = np.arange(vocab_size).reshape(-1, 1)
fresh = Sequential([Embedding(output_dim=embedding_size, input_dim=vocab_size, weights=[embedding_matrix]), Flatten()])
under_dense = Sequential([embedding_layer, Flatten(), Dense(embedding_size)])
copied = Sequential([Embedding(output_dim=embedding_size, input_dim=vocab_size, weights=[model2.get_weights()[0]]),
                     Flatten()])
for candidate in (fresh, under_dense, copied):
    candidate(ids)
model3 = fresh

def rebind(info):
    source = info.raw_cell or ""
    if "very embedding layer object" in source:
        globals()["model3"] = under_dense
    elif "same embedding vector as model2" in source:
        globals()["model3"] = copied

get_ipython().events.register("pre_run_cell", rebind)
