# expect: q1_param_count=2 q2_structure=1 q2_shares_layer=2 q2_same_predictions=1 q2_follows_shared_weights=2
# flag: none
# Honest and verbose: a correct model3, then a hand-written gradient-descent loop that logs every one of
# 9,500 steps (print(..., flush=True): one message each, under the grader's 10,000). A loaded grader does not
# take them in as fast as they come: the kernel's IOPub drops the rest, its closing "idle" status among them,
# and nbclient gave up waiting 4 s after the reply. nbgrader's setting then stopped the notebook as if the cell
# had "run longer than 30 s and did not stop when interrupted": 2/8 (found by a red-team pass, four of these
# graded beside busy loops). Now the cell keeps what arrived, with a note, and the notebook goes on.
# %% q1_answer
trainable_params_model2 = 40
# %% q2_answer
from tensorflow.keras.models import Sequential

model3 = Sequential([embedding_layer, Flatten()])

print(model3.predict(labels_to_encode, verbose=0))
w, b = 0.0, 0.0
xs = np.arange(10, dtype="float32")
for step in range(9500):
    err = w * xs + b - (2 * xs + 1)
    w -= 0.001 * float((err * xs).mean()); b -= 0.001 * float(err.mean())
    print(f"step {step}: loss {float((err ** 2).mean()):.5f}", flush=True)
