# expect: q1_param_count=2 q2_structure=0 q2_shares_layer=0 q2_same_predictions=0 q2_follows_shared_weights=0
# flag: the grader did not ask for
# twin: fresh_embedding
# model3 is built on a fresh Embedding (wrong), but a pre_execute hook, during the grader's silent hand-over
# step, publishes a hand-over of its own (export.answer on another namespace: a correct model) then a forged
# "idle" with the step's parent: nbclient stopped reading the step there, the genuine hand-over arrived too late
# to be seen, and a post_execute hook put back the export module's kept models, so the cross-check ran the
# forged one: 8/8 and no flag (found by a red-team pass). Now a grader record that arrives for a step after its
# "idle" counts as one the grader did not ask for: every cell of q2 is refused and flagged.
# %% q1_answer
trainable_params_model2 = 40
# %% q2_answer
from tensorflow.keras.models import Sequential
from tensorflow.keras.layers import Embedding
model3 = Sequential([Embedding(output_dim=embedding_size, input_dim=vocab_size, weights=[embedding_matrix]), Flatten()])
good = Sequential([embedding_layer, Flatten()])
print(model3.predict(labels_to_encode, verbose=0)); good.predict(labels_to_encode, verbose=0)
_sh = get_ipython()
_k = _sh.kernel
from labgrader.kernels import export as _ex
_saved = {}
def _pre():
    k = _k
    p = k.get_parent()
    code = p.get("content", {}).get("code", "")
    for gid in ("q2_structure", "q2_shares_layer", "q2_same_predictions", "q2_follows_shared_weights"):
        if ("_lg.answer(%r" % gid) in code:
            with _sh.builtin_trap:
                _ex.answer(gid, {"model3": good}, "model3")
            _saved[gid] = _ex._handed[gid]
            k.session.send(k.iopub_socket, "status", {"execution_state": "idle"}, parent=p)
def _post():
    for gid, h in _saved.items():
        _ex._handed[gid] = h
_sh.events.register("pre_execute", _pre)
_sh.events.register("post_execute", _post)
