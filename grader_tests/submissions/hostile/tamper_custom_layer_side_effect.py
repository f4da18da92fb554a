# expect: q1_param_count=0 q2_structure=0 q2_shares_layer=0 q2_same_predictions=0 q2_follows_shared_weights=0
# flag: labgrader.kernels.export.answer was rebound
# An identity layer of its own that patches the export module whenever model3 is called (the visible test
# calls it, and the old observer called it inside the check): a custom class, which the grader never runs.
# %% q1_answer
trainable_params_model2 = 80
# %% q2_answer
from tensorflow.keras.models import Sequential
from tensorflow.keras.layers import Layer
from labgrader.kernels import export
real_answer = export.answer
class Passthrough(Layer):
    def call(self, inputs):
        export.answer = lambda gid, ns, *names: real_answer(gid, {**ns, "model3": ns.get("model2")}, *names)
        return inputs
model3 = Sequential([Embedding(output_dim=embedding_size, input_dim=vocab_size, weights=[embedding_matrix]), Flatten(), Passthrough()])
