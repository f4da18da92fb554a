# expect: q1_param_count=2 q2_structure=1 q2_shares_layer=2 q2_same_predictions=1 q2_follows_shared_weights=2
# Honest exploration: prints the Python version and the module search path (import sys).
# %% q1_answer
import sys
print(sys.version)
print(len(sys.path), "entries on sys.path")
trainable_params_model2 = 40
# %% q2_answer
from tensorflow.keras.models import Sequential

model3 = Sequential([embedding_layer, Flatten()])
print(sys.getsizeof(model3))
