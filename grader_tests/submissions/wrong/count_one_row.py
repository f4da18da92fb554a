# expect: q1_param_count=0 q2_structure=1 q2_shares_layer=2 q2_same_predictions=1 q2_follows_shared_weights=2
# %% q1_answer
trainable_params_model2 = embedding_size  # one row only
# %% q2_answer
from tensorflow.keras.models import Sequential

model3 = Sequential([embedding_layer, Flatten()])
