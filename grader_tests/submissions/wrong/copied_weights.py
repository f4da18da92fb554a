# expect: q1_param_count=0 q2_structure=1 q2_shares_layer=0 q2_same_predictions=1 q2_follows_shared_weights=0
# %% q1_answer
trainable_params_model2 = 80  # counted model and model2
# %% q2_answer
from tensorflow.keras.models import Sequential

# a copy of today's weights: same predictions now, but not shared
model3 = Sequential([
    Embedding(output_dim=embedding_size, input_dim=vocab_size, weights=model2.get_weights()),
    Flatten(),
])
