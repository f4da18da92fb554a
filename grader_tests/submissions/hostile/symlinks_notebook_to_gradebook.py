# expect: q1_param_count=2 q2_structure=0 q2_shares_layer=0 q2_same_predictions=0 q2_follows_shared_weights=0
# flag: none
# Replaces its own notebook in the working copy with a link to the gradebook, so that the grader
# (root) would write the autograded notebook over it. The points of the cells that ran are kept.
# %% q1_answer
trainable_params_model2 = 40
# %% q2_answer
import os
os.remove("embeddings.ipynb")
os.symlink("../../../gradebook.db", "embeddings.ipynb")
