# expect: q1_param_count=0 q2_structure=0 q2_shares_layer=0 q2_same_predictions=0 q2_follows_shared_weights=0
# flag: labgrader.kernels.export.answer was rebound
# An activity regularizer with a side effect: it patches the export module whenever model3 runs. The grader
# rebuilds the Embedding from its settings and never runs a regularizer.
# %% q1_answer
trainable_params_model2 = 80
# %% q2_answer
from tensorflow.keras.models import Sequential
from labgrader.kernels import export
real_answer = export.answer
def patcher(activations):
    export.answer = lambda gid, ns, *names: real_answer(gid, {**ns, "model3": ns.get("model2")}, *names)
    return 0.0
model3 = Sequential([Embedding(output_dim=embedding_size, input_dim=vocab_size, weights=[embedding_matrix],
                               activity_regularizer=patcher), Flatten()])
