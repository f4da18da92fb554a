# expect: q1_param_count=2 q2_structure=0 q2_shares_layer=2 q2_same_predictions=1 q2_follows_shared_weights=2
# Wraps the whole of model2 instead of stacking embedding_layer and a flattening layer.
# %% q1_answer
trainable_params_model2 = 40
# %% q2_answer
from tensorflow.keras.models import Sequential
model3 = Sequential([model2])
