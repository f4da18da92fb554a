# expect: q1_param_count=2 q2_structure=1 q2_shares_layer=2 q2_same_predictions=1 q2_follows_shared_weights=2
# Honest exploration: uses TensorFlow directly (tf.constant, tf.__version__, its logger).
# %% q1_answer
import tensorflow as tf
tf.get_logger().setLevel("ERROR")
print(tf.__version__)
trainable_params_model2 = int(sum(tf.size(w).numpy() for w in model2.trainable_weights))
# %% q2_answer
from tensorflow.keras.models import Sequential

model3 = Sequential([embedding_layer, Flatten()])
print(model3(tf.constant([[3], [1]])).numpy())
