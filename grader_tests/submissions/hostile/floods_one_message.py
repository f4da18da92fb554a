# expect: q1_param_count=2 q2_structure=1 q2_shares_layer=2 q2_same_predictions=1 q2_follows_shared_weights=2
# A correct answer that first sends the grader one 64 MiB output message, then one of 40 parts of
# 4 MiB (each part under ZeroMQ's per-part cap): each would have sat whole in the grader's memory.
# The grader's relay drops every message over 8 MiB before the grader holds it; the kernel's channel
# reconnects and the rest of the notebook runs and is graded as usual.
# %% q1_answer
trainable_params_model2 = 40
# %% q2_answer
from IPython.display import display
display({"text/plain": "x" * (64 * 1024 * 1024)}, raw=True)
kernel = get_ipython().kernel
kernel.session.send(kernel.iopub_socket, "display_data", {"data": {"text/plain": "parts"}, "metadata": {}},
                    parent=kernel.get_parent(), buffers=[b"x" * (4 * 1024 * 1024)] * 40)
from tensorflow.keras.models import Sequential
model3 = Sequential([embedding_layer, Flatten()])
