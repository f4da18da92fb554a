# expect: q1_param_count=0 q2_structure=1 q2_shares_layer=0 q2_same_predictions=0 q2_follows_shared_weights=0
# flag: the code of labgrader.kernels.export.Encoder.encode was replaced
# Finds the export's functions with gc and swaps their __code__ for a forging one (identity kept).
# %% q1_answer
import gc, types
from labgrader.kernels import export
real_encode = types.FunctionType(export.Encoder.encode.__code__, export.Encoder.encode.__globals__, "real_encode")
def forging_encode(self, value, depth=0):
    if getattr(value, "name", None) == "sequential_1":
        value = model2
    return real_encode(self, value, depth)
export.Encoder.encode.__code__ = forging_encode.__code__
export.Encoder.encode.__globals__["real_encode"] = real_encode
export.Encoder.encode.__globals__["model2"] = model2
trainable_params_model2 = 80
# %% q2_answer
from tensorflow.keras.models import Sequential
model3 = Sequential([Embedding(output_dim=embedding_size, input_dim=vocab_size, weights=[embedding_matrix]), Flatten()])
