# expect: q1_param_count=2 q2_structure=1 q2_shares_layer=0 q2_same_predictions=0 q2_follows_shared_weights=0
# %% q1_answer
trainable_params_model2 = 40
# %% q2_answer
from tensorflow.keras.models import Sequential

# a new Embedding initialised from the original matrix: neither shared nor up to date
model3 = Sequential([
    Embedding(output_dim=embedding_size, input_dim=vocab_size, weights=[embedding_matrix]),
    Flatten(),
])
