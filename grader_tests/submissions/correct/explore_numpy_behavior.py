# expect: q1_param_count=2 q2_structure=1 q2_shares_layer=2 q2_same_predictions=1 q2_follows_shared_weights=2
# Turns on TensorFlow's NumPy behaviour (which adds methods to tf.Tensor and replaces two) and uses it: data
# classes the hand-over does not travel through, so nothing to flag.
# %% q1_answer
import tensorflow as tf
tf.experimental.numpy.experimental_enable_numpy_behavior()
weights = tf.constant(embedding_matrix)
print(weights.reshape(-1)[:5], weights.T.shape, weights.ndim, round(weights[0][1]))
trainable_params_model2 = 40
# %% q2_answer
from tensorflow.keras.models import Sequential
model3 = Sequential([embedding_layer, Flatten()])
print(model3(np.arange(3).reshape(-1, 1)).reshape(-1))
