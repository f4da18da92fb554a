# expect: q1_param_count=0 q2_structure=0 q2_shares_layer=0 q2_same_predictions=0 q2_follows_shared_weights=0
# flag: none
# Prints the kernel's environment, as given (/proc/self/environ) and as seen (os.environ), hoping
# for the instructor's tokens and paths.
# %% q1_answer
trainable_params_model2 = 12
import os
print(sorted(os.environ.items()))
try:
    print(open("/proc/self/environ", "rb").read().replace(b"\0", b"\n").decode())
except OSError as e:
    print(e)
# %% q2_answer
model3 = None
