# expect: q1_param_count=2 q2_structure=1 q2_shares_layer=2 q2_same_predictions=1 q2_follows_shared_weights=2
# Honest exploration: a correct model3 (the shared embedding_layer), compiled and trained for one epoch, as a
# curious student would. model3 still gives exactly model2's vectors for every id (they share the layer), but
# q2_same_predictions also compares model3 with the INSTRUCTOR's model2 (weights of ones after the demo), so
# this correct hand-in loses 1 point (a false negative, no flag).
# %% q1_answer
trainable_params_model2 = 40
# %% q2_answer
from tensorflow.keras.models import Sequential
model3 = Sequential([embedding_layer, Flatten()])
model3.compile(optimizer="sgd", loss="mse")
model3.fit(np.arange(vocab_size).reshape(-1, 1), np.zeros((vocab_size, embedding_size)), epochs=1, verbose=0)
