# expect: q1_param_count=2 q2_structure=1 q2_shares_layer=2 q2_same_predictions=1 q2_follows_shared_weights=2
# Honest exploration: checks its own answer with math and asserts before the tests run.
# %% q1_answer
import math
trainable_params_model2 = math.prod(embedding_layer.get_weights()[0].shape)
assert trainable_params_model2 == vocab_size * embedding_size
# %% q2_answer
from tensorflow.keras.models import Sequential

model3 = Sequential([embedding_layer, Flatten()])
assert model3.layers[0] is embedding_layer
assert np.allclose(model3.predict(labels_to_encode, verbose=0), model2.predict(labels_to_encode, verbose=0))
