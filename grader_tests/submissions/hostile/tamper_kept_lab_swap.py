# expect: q1_param_count=0 q2_structure=1 q2_shares_layer=0 q2_same_predictions=0 q2_follows_shared_weights=0
# Mutates the grader's kept references (observe._kept["lab"], reached as observers.observe.kept("lab")):
# the "shared" embedding layer becomes model3's fresh one, and `model` a model around it.
# %% q1_answer
trainable_params_model2 = 80
# %% q2_answer
from tensorflow.keras.models import Sequential
model3 = Sequential([Embedding(output_dim=embedding_size, input_dim=vocab_size, weights=[embedding_matrix]), Flatten()])
import observers
lab = observers.observe.kept("lab")
own = model3.layers[0]
x3 = Input(shape=[1])
lab["embedding_layer"] = own
lab["model"] = Model(inputs=x3, outputs=own(x3))
