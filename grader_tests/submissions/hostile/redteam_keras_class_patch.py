# expect: q1_param_count=0 q2_structure=1 q2_shares_layer=0 q2_same_predictions=0 q2_follows_shared_weights=0
# flag: Functional.get_layer was replaced
# redteam_lab_get_layer at class level: Functional.get_layer itself is patched (not an instance attribute), so
# reading through the object's own class does not help. The export's watch covers attributes of the watched
# modules and the classes *defined* in them (value.__module__ == the module's name); Keras's public modules
# (keras, keras.layers, keras.models) only re-export classes that live in keras.src.*, so no Keras class and
# no Keras method is watched at all, and the patch is neither put back nor reported.
# %% q1_answer
trainable_params_model2 = 80
# %% q2_answer
from tensorflow.keras.models import Sequential
model3 = Sequential([Embedding(output_dim=embedding_size, input_dim=vocab_size, weights=[embedding_matrix]), Flatten()])
model3(np.zeros((1, 1)))
own = model3.layers[0]
functional = type(model2)
real_get_layer = functional.get_layer
def get_layer(self, name=None, index=None):
    return own if name == "my_embedding" and self in (model, model2) else real_get_layer(self, name, index)
functional.get_layer = get_layer
