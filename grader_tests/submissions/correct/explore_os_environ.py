# expect: q1_param_count=2 q2_structure=1 q2_shares_layer=2 q2_same_predictions=1 q2_follows_shared_weights=2
# Honest exploration: quiets TensorFlow's log through the environment (import os).
# %% q1_answer
import os
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
print(os.getcwd() != "", sorted(os.environ)[:3])
trainable_params_model2 = 40
# %% q2_answer
from tensorflow.keras.models import Sequential

model3 = Sequential([embedding_layer, Flatten()])
