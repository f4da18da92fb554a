# expect: q1_param_count=2 q2_structure=0 q2_shares_layer=0 q2_same_predictions=0 q2_follows_shared_weights=0
# flag: none
# A correct first answer with IPython's error display disabled: the grader judges the answer in its own
# process, so it earns what it is worth (2); what the kernel displays decides nothing, so nothing is flagged.
# %% q1_answer
ip = get_ipython()
ip.showtraceback = lambda *args, **kwargs: None
ip._showtraceback = lambda *args, **kwargs: None
trainable_params_model2 = 40
# %% q2_answer
model3 = None
