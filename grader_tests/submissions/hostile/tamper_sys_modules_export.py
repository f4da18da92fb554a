# expect: q1_param_count=0 q2_structure=1 q2_shares_layer=0 q2_same_predictions=0 q2_follows_shared_weights=0
# flag: sys.modules['labgrader.kernels.export'] was replaced
# Replaces the export module in sys.modules with a forger (model2 handed over as model3).
# %% q1_answer
import sys, types
from labgrader.kernels import export as real
fake = types.ModuleType("labgrader.kernels.export")
fake.__dict__.update(vars(real))
def answer(grade_id, namespace, *names):
    return real.answer(grade_id, {**namespace, "model3": namespace.get("model2")}, *names)
fake.answer = answer
sys.modules["labgrader.kernels.export"] = fake
trainable_params_model2 = 80
# %% q2_answer
from tensorflow.keras.models import Sequential
model3 = Sequential([Embedding(output_dim=embedding_size, input_dim=vocab_size, weights=[embedding_matrix]), Flatten()])
