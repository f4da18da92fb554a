# expect: q1_param_count=2 q2_structure=1 q2_shares_layer=2 q2_same_predictions=1 q2_follows_shared_weights=2
# flag: none
# twin: explicit_input
# A correct model3 with an explicit Input, plus an instance-level get_config on its InputLayer (the exporter
# calls input_layer.get_config() on the instance) that reports a dtype Keras does not know. The rebuilder checks
# an input's dtype for functional models but not for Sequential ones: keras.Input(dtype=...) raises ValueError
# outside the rebuilder's try, the judge lets it through, and the grader takes it for a bug of the lab
# (LabError): grading stops for the whole class. (Also: an InputLayer of model2 renamed to "input/x" makes
# keras.Input(name=...) raise in _input_tensor, the same way.)
# %% q1_answer
trainable_params_model2 = 40
# %% q2_answer
from tensorflow.keras.models import Sequential
model3 = Sequential([Input(shape=[1]), embedding_layer, Flatten()])
model3._layers[0].get_config = lambda: {"batch_shape": [None, 1], "dtype": "no-such-dtype"}
