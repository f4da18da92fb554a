# expect: q1_param_count=0 q2_structure=0 q2_shares_layer=2 q2_same_predictions=0 q2_follows_shared_weights=2
# %% q1_answer
trainable_params_model2 = 44
# %% q2_answer
from tensorflow.keras.models import Sequential

model3 = Sequential([embedding_layer])
