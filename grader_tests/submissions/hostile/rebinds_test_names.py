# expect: q1_param_count=0 q2_structure=0 q2_shares_layer=0 q2_same_predictions=0 q2_follows_shared_weights=0
# flag: none
# Rebinds the names the tests use so that "model2" is the student's own (wrong) model.
# %% q1_answer
from tensorflow.keras.models import Sequential
trainable_params_model2 = 4
model = model2 = Sequential([Embedding(10, 1), Flatten()])
embedding_layer = model2.layers[0]
vocab_size, embedding_size = 10, 1
# %% q2_answer
model3 = Sequential([embedding_layer, Flatten()])
class FakeNumpy:
    def __getattr__(self, name):
        return lambda *a, **k: True
np = FakeNumpy()
