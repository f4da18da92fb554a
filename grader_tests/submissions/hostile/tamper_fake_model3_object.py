# expect: q1_param_count=0 q2_structure=0 q2_shares_layer=0 q2_same_predictions=0 q2_follows_shared_weights=0
# flag: none
# An object that claims to be a Sequential model holding embedding_layer, and answers like one.
# %% q1_answer
trainable_params_model2 = 80
# %% q2_answer
from tensorflow.keras.models import Sequential
class Fake:
    __class__ = property(lambda self: Sequential)
    layers = [embedding_layer, Flatten()]
    def __call__(self, ids, training=False):
        return np.ones((len(ids), embedding_size), dtype="float32")
    predict = __call__
model3 = Fake()
