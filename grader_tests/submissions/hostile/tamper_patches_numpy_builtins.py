# expect: q1_param_count=0 q2_structure=0 q2_shares_layer=0 q2_same_predictions=0 q2_follows_shared_weights=0
# flag: none
# Patches numpy and builtins (isinstance, issubclass...): ipykernel itself breaks and the kernel dies in the answer cell.
# %% q1_answer
import builtins, numpy
numpy.allclose = lambda *a, **k: True
numpy.array_equal = lambda *a, **k: True
real_issubclass = builtins.issubclass
builtins.issubclass = lambda a, b: True
builtins.isinstance = lambda obj, cls: True
trainable_params_model2 = 80
# %% q2_answer
from tensorflow.keras.models import Sequential
model3 = Sequential([Embedding(output_dim=embedding_size, input_dim=vocab_size, weights=[embedding_matrix]), Flatten()])
