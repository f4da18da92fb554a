# expect: q1_param_count=0 q2_structure=0 q2_shares_layer=0 q2_same_predictions=0 q2_follows_shared_weights=0
# flag: none
# A Sequential subclass whose layers property claims to hold the shared embedding_layer.
# %% q1_answer
trainable_params_model2 = 80
# %% q2_answer
from tensorflow.keras.models import Sequential
class Liar(Sequential):
    @property
    def layers(self):
        return [embedding_layer, Flatten()]
model3 = Liar([Embedding(output_dim=embedding_size, input_dim=vocab_size, weights=[embedding_matrix]), Flatten()])
