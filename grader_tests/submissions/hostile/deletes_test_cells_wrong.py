# expect: q1_param_count=0 q2_structure=0 q2_shares_layer=0 q2_same_predictions=0 q2_follows_shared_weights=0
# flag: none
# Wrong answers, and the test cells deleted so that nothing can fail.
# %% q1_answer
trainable_params_model2 = 12
# %% q2_answer
model3 = None
# %% delete q1_param_count
# %% delete q2_structure
# %% delete q2_shares_layer
# %% delete q2_same_predictions
# %% delete q2_follows_shared_weights
