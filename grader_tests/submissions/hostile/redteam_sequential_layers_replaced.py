# expect: q1_param_count=0 q2_structure=1 q2_shares_layer=0 q2_same_predictions=0 q2_follows_shared_weights=0
# flag: was changed after it was built
# twin: counts_both_models_fresh_layer
# A Sequential built on a fresh Embedding whose layer list is replaced afterwards by the right one (the shared
# embedding_layer and a Flatten). Once built, Keras runs the graph it built (model3._functional), not the list:
# the export now describes that graph, and says the list was changed.
# %% q1_answer
trainable_params_model2 = 80
# %% q2_answer
from tensorflow.keras.models import Sequential
model3 = Sequential([Embedding(output_dim=embedding_size, input_dim=vocab_size, weights=[embedding_matrix]), Flatten()])
model3(np.arange(vocab_size).reshape(-1, 1))
model3._layers = [model3._layers[0], embedding_layer, Flatten()]
