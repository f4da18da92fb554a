# expect: q1_param_count=2 q2_structure=0 q2_shares_layer=0 q2_same_predictions=0 q2_follows_shared_weights=0
# flag: none
# The kernel dies in the second answer: the first answer's points are kept.
# %% q1_answer
trainable_params_model2 = 40
# %% q2_answer
import os
os._exit(1)
