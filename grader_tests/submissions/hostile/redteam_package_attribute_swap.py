# expect: q1_param_count=0 q2_structure=0 q2_shares_layer=0 q2_same_predictions=0 q2_follows_shared_weights=0
# flag: reported nothing
# flag: snapshot of the kernel is gone
# twin: count_one_row
# Rebinds the ATTRIBUTE labgrader.kernels.export (not sys.modules) to a module of the student's. The hidden
# tests' `from labgrader.kernels import export` and the grader's silent `import labgrader.kernels.export as _lg`
# (watch, pin, arguments, seal) both resolve through that attribute, so every call of the grader lands in the
# student's module; the real one never runs its check again. The watch skips module-valued attributes (lazy
# loaders) and sys.modules still holds the real module, so nothing is seen. Here the student's answer() hands
# over a model3 rebuilt from embedding_layer (the forger must know the answer) and its seal() reports nothing;
# json.dumps is rebound too, to show that evidence of ordinary tampering is gone as well.
# %% q1_answer
import json, sys, types
real_dumps = json.dumps
json.dumps = lambda *args, **kwargs: real_dumps(*args, **kwargs)
import labgrader.kernels
real = sys.modules["labgrader.kernels.export"]
fake = types.ModuleType("labgrader.kernels.export")
fake.__dict__.update(vars(real))
def answer(grade_id, namespace, *names):
    if "model3" in names:
        from tensorflow.keras.models import Sequential
        namespace = {**namespace, "model3": Sequential([namespace["embedding_layer"], Flatten()])}
    real._watch.clear()
    real._watched = False
    return real.answer(grade_id, namespace, *names)
def seal(grade_id):
    real._watch.clear()
    real._watched = False
    from IPython.display import publish_display_data
    publish_display_data({real.EVIDENCE_MIME: {"grade_id": grade_id, "seen": []}, "text/plain": ""})
fake.answer, fake.seal = answer, seal
labgrader.kernels.export = fake
trainable_params_model2 = 80
# %% q2_answer
from tensorflow.keras.models import Sequential
model3 = Sequential([Embedding(output_dim=embedding_size, input_dim=vocab_size, weights=[embedding_matrix]), Flatten()])
