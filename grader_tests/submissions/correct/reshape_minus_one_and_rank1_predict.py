# expect: q1_param_count=2 q2_structure=1 q2_shares_layer=2 q2_same_predictions=1 q2_follows_shared_weights=2
# %% q1_answer
# 10 symbols x 4 dimensions, all in the shared embedding layer; Flatten has no weights
trainable_params_model2 = 10 * 4
# %% q2_answer
from tensorflow.keras.models import Sequential
from tensorflow.keras.layers import Reshape

model3 = Sequential([embedding_layer, Reshape((-1,))])
# calling predict with inputs of another rank must not break the grading (Keras 3 caches predict)
print(model3.predict(np.array([[3]]), verbose=0))
print(model3.predict(np.array([[3], [9]]), verbose=0))
