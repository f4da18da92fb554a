# expect: q1_param_count=0 q2_structure=0 q2_shares_layer=0 q2_same_predictions=0 q2_follows_shared_weights=0
# flag: none
# Escape sequences written straight to the kernel's fd 2 (beside the kernel protocol): they would
# retitle and clear the grader's terminal. The grader shows kernel stderr as printable text only.
# %% after demo_indexing
import os
os.write(2, b"\x1b]0;owned\x07\x1b[2J\x1b[31mSTDERR-ESCAPE-PAYLOAD\x9b2J\r\n")
# %% q1_answer
trainable_params_model2 = 12
# %% q2_answer
model3 = None
