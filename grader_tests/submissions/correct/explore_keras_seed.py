# expect: q1_param_count=2 q2_structure=1 q2_shares_layer=2 q2_same_predictions=1 q2_follows_shared_weights=2
# Honest exploration: seeds Keras's random generators and reads the backend.
# %% q1_answer
import keras
keras.utils.set_random_seed(42)
print(keras.backend.backend(), keras.__version__)
trainable_params_model2 = 40
# %% q2_answer
from tensorflow.keras.models import Sequential

model3 = Sequential([embedding_layer, Flatten()])
