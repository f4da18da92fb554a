# expect: q1_param_count=0 q2_structure=0 q2_shares_layer=0 q2_same_predictions=0 q2_follows_shared_weights=0
# flag: none
# Wrong answers; a test cell's grade id renamed and another cell unlocked.
# %% q1_answer
trainable_params_model2 = 12
# %% q2_answer
model3 = None
# %% metadata q1_param_count
{"grade_id": "free_points", "points": 50}
# %% metadata q2_structure
{"grade": false, "locked": false}
