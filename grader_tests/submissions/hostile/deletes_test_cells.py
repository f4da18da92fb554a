# expect: q1_param_count=2 q2_structure=1 q2_shares_layer=2 q2_same_predictions=1 q2_follows_shared_weights=2
# flag: none
# Correct answers, but the test cells deleted: they are restored and the answers graded for real.
# %% q1_answer
trainable_params_model2 = 40
# %% q2_answer
from tensorflow.keras.models import Sequential
model3 = Sequential([embedding_layer, Flatten()])
# %% delete q1_param_count
# %% delete q2_structure
# %% delete q2_shares_layer
# %% delete q2_same_predictions
# %% delete q2_follows_shared_weights
