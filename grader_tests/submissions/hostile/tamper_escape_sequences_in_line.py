# expect: q1_param_count=0 q2_structure=1 q2_shares_layer=0 q2_same_predictions=0 q2_follows_shared_weights=0
# flag: json.dumps was rebound
# The tampering line carries terminal escape sequences (clear the screen, set the window title) and a
# U+2028 line separator before it, hoping the flag's quoted line rewrites the instructor's terminal or
# points at the wrong line.
# %% q1_answer
import json
real = json.dumps  #   not a line break for Python
json.dumps = lambda *a, **k: real(*a, **k)  # [2J]0;pwned[31m
trainable_params_model2 = 80
# %% q2_answer
from tensorflow.keras.models import Sequential
model3 = Sequential([Embedding(output_dim=embedding_size, input_dim=vocab_size, weights=[embedding_matrix]), Flatten()])
