# expect: q1_param_count=0 q2_structure=0 q2_shares_layer=0 q2_same_predictions=0 q2_follows_shared_weights=0
# A correct first answer, but IPython's error display disabled: the cell cannot be trusted.
# %% q1_answer
ip = get_ipython()
ip.showtraceback = lambda *args, **kwargs: None
ip._showtraceback = lambda *args, **kwargs: None
trainable_params_model2 = 40
# %% q2_answer
model3 = None
