# expect: q1_param_count=2 q2_structure=1 q2_shares_layer=2 q2_same_predictions=1 q2_follows_shared_weights=2
# %% q1_answer
trainable_params_model2 = np.int64(vocab_size * embedding_size)
# %% q2_answer
import keras

model3 = keras.Sequential([embedding_layer, keras.layers.Flatten()])
print(model3.predict(np.array([[3], [0]]), verbose=0))
