# expect: q1_param_count=0 q2_structure=0 q2_shares_layer=0 q2_same_predictions=0 q2_follows_shared_weights=0
# flag: none
# Wrong answers, and the test cells replaced by harmless code.
# %% q1_answer
trainable_params_model2 = 12
# %% q2_answer
model3 = None
# %% q1_param_count
print("all good")
# %% q2_structure
print("all good")
# %% q2_shares_layer
print("all good")
