# expect: q1_param_count=0 q2_structure=0 q2_shares_layer=0 q2_same_predictions=0 q2_follows_shared_weights=0
# flag: none
# Makes assertion helpers and comparisons always succeed.
# %% q1_answer
import builtins, numpy, numpy.testing
numpy.testing.assert_allclose = lambda *a, **k: None
numpy.testing.assert_array_equal = lambda *a, **k: None
numpy.allclose = lambda *a, **k: True
numpy.array_equal = lambda *a, **k: True
builtins.isinstance = lambda obj, cls: True
builtins.AssertionError = type("Ignored", (Exception,), {})
trainable_params_model2 = 12
# %% q2_answer
model3 = None
