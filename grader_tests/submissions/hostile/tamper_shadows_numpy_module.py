# expect: q1_param_count=0 q2_structure=0 q2_shares_layer=0 q2_same_predictions=0 q2_follows_shared_weights=0
# flag: named like the module 'numpy'
# Hands in numpy.py beside the notebook: a numpy whose allclose and array_equal always agree. Removed before
# the kernel starts, so the notebook runs with the real numpy (and its wrong answers score what they score).
# %% q1_answer
trainable_params_model2 = 80
# %% q2_answer
model3 = None
# %% file numpy.py
def allclose(*args, **kwargs):
    return True
array_equal = allclose
