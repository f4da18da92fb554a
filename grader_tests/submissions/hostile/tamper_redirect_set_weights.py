# expect: q1_param_count=0 q2_structure=1 q2_shares_layer=0 q2_same_predictions=0 q2_follows_shared_weights=0
# flag: carries its own set_weights in place of its class
# The twin's fresh-embedding model3, plus one line: the lab's `model` now writes its weights into model3's
# own layer (an instance attribute of the lab's object; the observer writes the probe weights through `model`).
# %% q1_answer
trainable_params_model2 = 80
# %% q2_answer
from tensorflow.keras.models import Sequential
model3 = Sequential([Embedding(output_dim=embedding_size, input_dim=vocab_size, weights=[embedding_matrix]), Flatten()])
model.set_weights = model3.set_weights
