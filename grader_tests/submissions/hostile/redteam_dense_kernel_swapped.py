# expect: q1_param_count=0 q2_structure=0 q2_shares_layer=0 q2_same_predictions=0 q2_follows_shared_weights=0
# flag: model3 does not compute what the hand-over describes
# twin: extra_dense_layer
# A Dense layer built with an identity kernel (a model3 that would pass every check) whose kernel attribute is
# then swapped, past Keras's tracking, for zeros: its tracked weights still say identity, so the export did
# too, while the kernel's model3 returns zeros. The grader now runs the real model3 on inputs of its own
# and compares.
# %% q1_answer
trainable_params_model2 = 80
# %% q2_answer
import keras
from tensorflow.keras.models import Sequential
from tensorflow.keras.layers import Dense

dense = Dense(embedding_size, use_bias=False, kernel_initializer="identity")
model3 = Sequential([embedding_layer, Flatten(), dense])
model3(np.arange(vocab_size).reshape(-1, 1))
object.__setattr__(dense, "_kernel", keras.Variable(np.zeros((embedding_size, embedding_size), dtype="float32")))
