# expect: q1_param_count=0 q2_structure=0 q2_shares_layer=0 q2_same_predictions=0 q2_follows_shared_weights=0
# flag: none
# Wrong answers, with IPython told to swallow every exception so that no error shows.
# %% q1_answer
get_ipython().set_custom_exc((BaseException,), lambda shell, etype, evalue, tb, tb_offset=None: None)
trainable_params_model2 = 12
# %% q2_answer
model3 = "not a model"
