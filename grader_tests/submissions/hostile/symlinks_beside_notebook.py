# expect: q1_param_count=2 q2_structure=0 q2_shares_layer=0 q2_same_predictions=0 q2_follows_shared_weights=0
# flag: none
# Leaves links next to its notebook, so that the grader's chmod (nbgrader's set_permissions) and
# feedback's copy would follow them to the solutions and another student's hand-in.
# %% q1_answer
trainable_params_model2 = 40
# %% q2_answer
import os
os.symlink("../../../source/embeddings/embeddings.ipynb", "solutions.ipynb")
os.symlink("../../../submitted/instructor_solution/embeddings/embeddings.ipynb", "neighbour.ipynb")
