# expect: q1_param_count=2 q2_structure=1 q2_shares_layer=2 q2_same_predictions=1 q2_follows_shared_weights=2
# A sequence of length 1 averaged over its one step is that step: GlobalAveragePooling1D removes the
# sequence dimension as Flatten does.
# %% q1_answer
trainable_params_model2 = 40
# %% q2_answer
from tensorflow.keras.models import Sequential
from tensorflow.keras.layers import GlobalAveragePooling1D

model3 = Sequential([embedding_layer, GlobalAveragePooling1D()])
