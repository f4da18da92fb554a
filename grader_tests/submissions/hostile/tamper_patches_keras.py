# expect: q1_param_count=0 q2_structure=1 q2_shares_layer=0 q2_same_predictions=0 q2_follows_shared_weights=0
# flag: Layer.__call__ was replaced
# Patches Keras in the kernel so that any model call answers like the shared model: the grader calls its own,
# rebuilt models, not the kernel's (and the export puts Keras's classes back, and says so).
# %% q1_answer
import keras
from keras.layers import Layer
real_call = Layer.__call__
def lookup(self, inputs, *args, **kwargs):
    return real_call(model2, inputs) if self is not model2 else real_call(self, inputs, *args, **kwargs)
Layer.__call__ = lookup
keras.ops.convert_to_numpy = lambda x: np.asarray(x)
trainable_params_model2 = 80
# %% q2_answer
from tensorflow.keras.models import Sequential
model3 = Sequential([Embedding(output_dim=embedding_size, input_dim=vocab_size, weights=[embedding_matrix]), Flatten()])
