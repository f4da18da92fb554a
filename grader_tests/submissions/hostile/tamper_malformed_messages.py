# expect: q1_param_count=0 q2_structure=1 q2_shares_layer=0 q2_same_predictions=0 q2_follows_shared_weights=0
# flag: could not read: duplicate signature
# flag: malformed parent header
# flag: execute_reply without status
# flag: malformed display_data (1)
# flag: malformed transient
# flag: malformed execution count
# flag: malformed (1)
# The twin, plus messages no kernel sends, signed with the kernel's own key (student code holds it):
# one sent twice byte for byte (a replayed signature), one without its delimiter, a parent that is not an object,
# an execute_reply for the running cell without a status (nbclient would take it as the cell's reply
# and fail on it), outputs whose data, transient and execution count have the wrong types. Each used to
# end grading with an exception (a notebook that is never graded); now each is dropped with a note and
# the submission is flagged.
# %% q1_answer
trainable_params_model2 = 80
kernel = get_ipython().kernel
session, parent = kernel.session, kernel.get_parent()
signed = session.serialize(session.msg("stream", {"name": "stdout", "text": "once\n"}, parent=parent))
kernel.iopub_socket.send_multipart(signed)
kernel.iopub_socket.send_multipart(signed)
head = session.msg_header("display_data")
parts = [session.pack(head), b"[1, 2]", b"{}", b'{"data": {}, "metadata": {}}']
kernel.iopub_socket.send_multipart([b"<IDS|MSG>", session.sign(parts)] + parts)
kernel.iopub_socket.send_multipart([b"no delimiter"] + parts)
session.send(kernel.shell_stream, "execute_reply", {"no": "status"}, parent=parent, ident=kernel._parent_ident["shell"])
session.send(kernel.iopub_socket, "display_data", {"data": ["text/plain"], "metadata": {}}, parent=parent)
session.send(kernel.iopub_socket, "display_data", {"data": {"text/plain": "x"}, "metadata": {}, "transient": [1]}, parent=parent)
session.send(kernel.iopub_socket, "execute_result", {"data": {"text/plain": "x"}, "metadata": {}, "execution_count": "evil"}, parent=parent)
# %% q2_answer
from tensorflow.keras.models import Sequential
model3 = Sequential([Embedding(output_dim=embedding_size, input_dim=vocab_size, weights=[embedding_matrix]), Flatten()])
