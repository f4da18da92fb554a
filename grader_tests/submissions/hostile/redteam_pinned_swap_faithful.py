# expect: q1_param_count=0 q2_structure=1 q2_shares_layer=0 q2_same_predictions=0 q2_follows_shared_weights=0
# flag: is not the object the lab's cells built
# tamper_kept_lab_swap done faithfully: the export module's pinned model AND model2 are replaced (a plain dict,
# not watched) by models built exactly as the lab's cells build them (same Input name, same layers and
# settings), but around model3's own fresh Embedding. The grader compares the pinned objects' structure with
# the instructor's run without names or weight values, so it sees no difference and no flag; the rebuilt
# model3 then "shares" the layer of the rebuilt model and model2.
# %% q1_answer
trainable_params_model2 = 80
# %% q2_answer
from tensorflow.keras.models import Sequential
model3 = Sequential([Embedding(output_dim=embedding_size, input_dim=vocab_size, weights=[embedding_matrix]), Flatten()])
from labgrader.kernels import export
own = model3.layers[0]
x = Input(shape=[1], name='input')
export._pinned["model"] = Model(inputs=x, outputs=own(x))
x = Input(shape=[1], name='input')
export._pinned["model2"] = Model(inputs=x, outputs=Flatten()(own(x)))
