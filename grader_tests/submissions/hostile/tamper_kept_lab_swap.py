# expect: q1_param_count=0 q2_structure=1 q2_shares_layer=0 q2_same_predictions=0 q2_follows_shared_weights=0
# flag: the lab's own model is not the object the lab's cells built
# Rewrites the export module's pinned lab objects: the "lab's" model becomes a model around model3's own fresh
# layer, so that model3 would seem to share the lab's layer.
# %% q1_answer
trainable_params_model2 = 80
# %% q2_answer
from tensorflow.keras.models import Sequential
model3 = Sequential([Embedding(output_dim=embedding_size, input_dim=vocab_size, weights=[embedding_matrix]), Flatten()])
from labgrader.kernels import export
own = model3.layers[0]
x3 = Input(shape=[1])
export._pinned["model"] = Model(inputs=x3, outputs=Flatten()(own(x3)))
