# expect: q1_param_count=0 q2_structure=0 q2_shares_layer=0 q2_same_predictions=0 q2_follows_shared_weights=0
# flag: model3 changed between the hand-overs of q2_structure and q2_shares_layer with no cell
# twin: counts_both_models_fresh_layer
# redteam_pre_run_cell_rebinds moved to pre_execute, the hook IPython also runs before the grader's own
# silent cells (silent executions skip pre_run_cell): each hand-over finds another model3.
# %% q1_answer
trainable_params_model2 = 80
# %% q2_answer
from tensorflow.keras.models import Sequential
from tensorflow.keras.layers import Dense
from IPython import get_ipython

ids = np.arange(vocab_size).reshape(-1, 1)
candidates = [Sequential([Embedding(output_dim=embedding_size, input_dim=vocab_size, weights=[embedding_matrix]), Flatten()]),
              Sequential([embedding_layer, Flatten(), Dense(embedding_size)]),
              Sequential([Embedding(output_dim=embedding_size, input_dim=vocab_size, weights=[model2.get_weights()[0]]),
                          Flatten()])]
for candidate in candidates:
    candidate(ids)
model3 = candidates[0]
executions = [0]

def rebind():
    executions[0] += 1
    globals()["model3"] = candidates[executions[0] // 3 % len(candidates)]

get_ipython().events.register("pre_execute", rebind)
