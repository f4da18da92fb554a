# expect: q1_param_count=2 q2_structure=1 q2_shares_layer=2 q2_same_predictions=1 q2_follows_shared_weights=2
# %% q1_answer
trainable_params_model2 = model2.count_params()
# %% q2_answer
import tensorflow as tf

model3 = tf.keras.models.Sequential([embedding_layer, tf.keras.layers.Reshape((embedding_size,))])
print(model3(labels_to_encode))
