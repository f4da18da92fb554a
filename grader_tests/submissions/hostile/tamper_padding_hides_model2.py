# expect: q1_param_count=0 q2_structure=0 q2_shares_layer=2 q2_same_predictions=1 q2_follows_shared_weights=2
# twin: wraps_model2
# flag: none
# Hides a wrapped model2 behind padding layers and a nested Sequential, so that a rule looking only at
# model3's own layers would see no whole model inside. The honest twin is wraps_model2 (with this count).
# %% q1_answer
trainable_params_model2 = 80
# %% q2_answer
from tensorflow.keras.models import Sequential
from tensorflow.keras.layers import Reshape
model3 = Sequential([Reshape((1,)), Sequential([Reshape((1,)), model2])])
