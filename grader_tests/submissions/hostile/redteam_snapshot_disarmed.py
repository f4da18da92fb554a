# expect: q1_param_count=0 q2_structure=0 q2_shares_layer=0 q2_same_predictions=0 q2_follows_shared_weights=0
# flag: snapshot of the kernel is gone
# tamper_clears_snapshot without its flag: besides emptying the export module's snapshot (_watch), it sets the
# module's _watched back to False (a plain bool, not watched), which is exactly the state "nothing was ever
# watched", so neither answer() nor seal() reports "the snapshot was cleared" and nothing is put back or
# reported. Then tamper_session_send_rewrite's Session.send wrapper rewrites every hand-over on its way out
# (model2 as model3): the grader sees a changed hand-over ("model3 is model2 itself") and no flag at all.
# %% q1_answer
from labgrader.kernels import export
export._watch.clear()
export._watched = False
import sys
session = sys.stdout.session
original_send = session.send
def send(stream, msg, *args, **kwargs):
    if isinstance(msg, dict):
        for record in msg.get("content", {}).get("data", {}).values():
            if isinstance(record, dict) and "answers" in record and "model3" in record["answers"]:
                record["answers"]["model3"] = record["lab"]["model2"]
    return original_send(stream, msg, *args, **kwargs)
session.send = send
trainable_params_model2 = 80
# %% q2_answer
from tensorflow.keras.models import Sequential
model3 = Sequential([Embedding(output_dim=embedding_size, input_dim=vocab_size, weights=[embedding_matrix]), Flatten()])
