# expect: q1_param_count=2 q2_structure=0 q2_shares_layer=0 q2_same_predictions=0 q2_follows_shared_weights=0
# flag: none
# twin: list_and_flatten
# Grader CPU through many tiny messages: the answer cell sends the grader one-character outputs until it is
# stopped, straight through the kernel's session (print batches its output; this does not), and shrugs off
# interrupts. Sending one costs the kernel about 20 microseconds; reading it (signature, JSON, nbformat's
# validation, nbclient) cost the grader about 20 times that, so the grader spent minutes on what took the
# kernel seconds. Past GradingSession.max_messages only replies were read (a look at the header of the rest)
# and the notebook stopped after that cell, but the kernel went on until the cell's time limit: 20-30 s of
# kernel CPU and the grader's look at each message. Now the grader ends the kernel as soon as it is flooded:
# q1 keeps its points, the cells after the flood are not run, and the record holds the flood, not a timeout.
# %% q1_answer
trainable_params_model2 = 40
# %% q2_answer
from tensorflow.keras.models import Sequential
model3 = Sequential([embedding_layer, Flatten()])
kernel = get_ipython().kernel
parent = kernel.get_parent()
while True:
    try:
        for _ in range(1000):
            kernel.session.send(kernel.iopub_socket, "stream", {"name": "stdout", "text": "x"}, parent=parent)
    except KeyboardInterrupt:
        pass
