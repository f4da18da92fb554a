# expect: q1_param_count=0 q2_structure=1 q2_shares_layer=0 q2_same_predictions=0 q2_follows_shared_weights=0
# flag: none
# Rebinds model, model2 and embedding_layer in a cell added before the first answer cell, so that a
# model3 built from a fresh layer would look like it shares it.
# %% after demo_model2_predict
embedding_layer = Embedding(output_dim=embedding_size, input_dim=vocab_size, weights=[embedding_matrix])
x = Input(shape=[1])
model = Model(inputs=x, outputs=embedding_layer(x))
model2 = Model(inputs=x, outputs=Flatten()(embedding_layer(x)))
# %% q1_answer
trainable_params_model2 = 80
# %% q2_answer
from tensorflow.keras.models import Sequential
model3 = Sequential([embedding_layer, Flatten()])
