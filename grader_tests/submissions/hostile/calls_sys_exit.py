# expect: q1_param_count=2 q2_structure=0 q2_shares_layer=0 q2_same_predictions=0 q2_follows_shared_weights=0
# flag: none
# sys.exit() in a notebook raises SystemExit: the cell fails, the kernel lives on.
# %% q1_answer
trainable_params_model2 = 40
# %% q2_answer
import sys
sys.exit(3)
