# expect: q1_param_count=0 q2_structure=1 q2_shares_layer=0 q2_same_predictions=0 q2_follows_shared_weights=0
# flag: could not read: nested too deeply
# The twin, plus one raw output message whose content is JSON nested 100000 deep (content handed to
# Session.send as bytes, already packed). jupyter_client's json.loads raised RecursionError inside nbclient's
# output loop and the notebook was not graded at all. Now the grader's session drops the message with a note,
# grades the notebook as its twin and flags what it could not read.
# %% q1_answer
trainable_params_model2 = 80
kernel = get_ipython().kernel
content = b'{"data": {"text/plain": ' + b"[" * 100000 + b"]" * 100000 + b'}, "metadata": {}, "transient": {}}'
kernel.session.send(kernel.iopub_socket, "display_data", content, parent=kernel.get_parent())
# %% q2_answer
from tensorflow.keras.models import Sequential
model3 = Sequential([Embedding(output_dim=embedding_size, input_dim=vocab_size, weights=[embedding_matrix]), Flatten()])
