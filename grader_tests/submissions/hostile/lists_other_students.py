# expect: q1_param_count=2 q2_structure=0 q2_shares_layer=0 q2_same_predictions=0 q2_follows_shared_weights=0
# flag: none
# Looks for other students' submissions and copies a model3 from one of them.
# %% q1_answer
trainable_params_model2 = 40
# %% q2_answer
import os
for root in ["..", "../..", "../../..", "../../../submitted"]:
    try:
        print(root, os.listdir(root))
    except OSError as e:
        print(root, e)
exec(open("../../list_and_flatten/embeddings/embeddings.ipynb").read())
