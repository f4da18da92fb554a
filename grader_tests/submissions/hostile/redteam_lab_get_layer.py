# expect: q1_param_count=0 q2_structure=1 q2_shares_layer=0 q2_same_predictions=0 q2_follows_shared_weights=0
# flag: carries its own get_layer in place of its class
# The twin's fresh-embedding model3, plus an instance-level get_layer on the lab's own model and model2 that
# answers model3's fresh layer for "my_embedding". The exporter reads a functional model's layers through
# model.get_layer (the instance, not the class), so the pinned model and model2 are exported around model3's
# layer: same classes, settings and shapes as the instructor's run (names are not compared), so no flag,
# and the rebuilt model3 "shares" the layer of the rebuilt model and model2. No labgrader import at all.
# %% q1_answer
trainable_params_model2 = 80
# %% q2_answer
from tensorflow.keras.models import Sequential
model3 = Sequential([Embedding(output_dim=embedding_size, input_dim=vocab_size, weights=[embedding_matrix]), Flatten()])
model3(np.zeros((1, 1)))
own = model3.layers[0]
for lab_model in (model, model2):
    lab_model.get_layer = lambda name, real=lab_model.get_layer: own if name == "my_embedding" else real(name)
