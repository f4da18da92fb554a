# expect: q1_param_count=2 q2_structure=0 q2_shares_layer=0 q2_same_predictions=0 q2_follows_shared_weights=0
# flag: none
# twin: list_and_flatten
# Grader CPU through many tiny messages: the answer cell sends the grader one-character outputs for 20 seconds,
# straight through the kernel's session (print batches its output; this does not). Sending one costs the kernel
# about 20 microseconds; reading it (signature, JSON, nbformat's validation, nbclient) cost the grader about 20
# times that, so the grader spent minutes on what took the kernel seconds. Now past GradingSession.max_messages
# only replies are read (a look at the header of the rest) and the notebook stops after that cell: q1 keeps its
# points, the cells after the flood are not run.
# %% q1_answer
trainable_params_model2 = 40
# %% q2_answer
import time
from tensorflow.keras.models import Sequential
model3 = Sequential([embedding_layer, Flatten()])
kernel = get_ipython().kernel
parent, until = kernel.get_parent(), time.monotonic() + 20
while time.monotonic() < until:
    for _ in range(1000):
        kernel.session.send(kernel.iopub_socket, "stream", {"name": "stdout", "text": "x"}, parent=parent)
