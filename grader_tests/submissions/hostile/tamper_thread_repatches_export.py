# expect: q1_param_count=0 q2_structure=0 q2_shares_layer=0 q2_same_predictions=0 q2_follows_shared_weights=0
# flag: labgrader.kernels.export.answer was rebound
# A background thread re-patches the export module every millisecond, so that whatever the grader puts back
# before a hand-over is undone again: hand-overs then carry model2 as model3.
# %% q1_answer
import threading, time
from labgrader.kernels import export
real_answer = export.answer
def forging_answer(grade_id, namespace, *names):
    forged = dict(namespace)
    if "model3" in names:
        forged["model3"] = namespace["model2"]
    return real_answer(grade_id, forged, *names)
def keep_patching():
    while True:
        export.answer = forging_answer
        time.sleep(0.001)
threading.Thread(target=keep_patching, daemon=True).start()
trainable_params_model2 = 80
# %% q2_answer
from tensorflow.keras.models import Sequential
model3 = Sequential([Embedding(output_dim=embedding_size, input_dim=vocab_size, weights=[embedding_matrix]), Flatten()])
