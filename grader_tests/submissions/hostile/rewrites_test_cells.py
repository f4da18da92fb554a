# expect: q1_param_count=0 q2_structure=0 q2_shares_layer=0 q2_same_predictions=0 q2_follows_shared_weights=0
# flag: handed nothing over
# Registers an input transformer that replaces every later cell by "pass".
# %% q1_answer
trainable_params_model2 = 12
get_ipython().input_transformers_post.append(lambda lines: ["pass\n"])
