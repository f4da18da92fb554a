# expect: q1_param_count=2 q2_structure=1 q2_shares_layer=2 q2_same_predictions=1 q2_follows_shared_weights=2
# The count as a numpy long double: a whole number the visible test accepts.
# %% q1_answer
trainable_params_model2 = np.longdouble(40)
# %% q2_answer
from tensorflow.keras.models import Sequential
model3 = Sequential([embedding_layer, Flatten()])
