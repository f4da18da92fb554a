# expect: q1_param_count=2 q2_structure=1 q2_shares_layer=0 q2_same_predictions=1 q2_follows_shared_weights=0
# %% q1_answer
trainable_params_model2 = 40
# %% q2_answer
from tensorflow.keras.models import Sequential

# rebinding the name to a new layer (with equal weights) does not share anything
embedding_layer = Embedding(output_dim=embedding_size, input_dim=vocab_size,
                            weights=[np.ones((vocab_size, embedding_size))])
model3 = Sequential([embedding_layer, Flatten()])
