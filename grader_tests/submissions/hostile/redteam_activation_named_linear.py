# expect: q1_param_count=0 q2_structure=0 q2_shares_layer=0 q2_same_predictions=0 q2_follows_shared_weights=0
# flag: an activation function named 'linear' that is not Keras's own
# twin: counts_both_models_fresh_layer
# An Activation layer whose function is named linear but doubles its input: its config says "linear", so the
# grader rebuilt an identity. Activation functions are now named by identity with Keras's own.
# %% q1_answer
trainable_params_model2 = 80
# %% q2_answer
from tensorflow.keras.models import Sequential
from tensorflow.keras.layers import Activation

def linear(x):
    return 2 * x

model3 = Sequential([embedding_layer, Flatten(), Activation(linear)])
