# expect: q1_param_count=0 q2_structure=0 q2_shares_layer=0 q2_same_predictions=0 q2_follows_shared_weights=0
# flag: none
# Grader CPU through a hand-over of about 1.5 MB: after q2_structure, model3 becomes a functional model made of
# 10 Identity layers each called 1000 times in turn (a chain of 10000 calls; the kernel builds it in a thread
# with a large stack). The rebuilder resolves a functional graph in passes over the pending calls, listed
# layer by layer, and each pass resolves only one call per layer: about N*N/L tries (here 10**7, ~20 s of CPU
# per rebuild, one rebuild per judged cell), all before Keras refuses the deep graph (RecursionError, caught).
# Within the limits (16 MB, 1000 calls per layer, 500 objects) this grows to minutes per cell; the judge has no
# time limit. The score is the twin's: what goes wrong is the grader's time.
# (model3 is another object in the later test cells than in q2_structure: the grader grades one model3 per
# question, so every cell of the question fails.)
# %% q1_answer
trainable_params_model2 = 80
# %% q2_answer
from tensorflow.keras.models import Sequential
model3 = Sequential([Embedding(output_dim=embedding_size, input_dim=vocab_size, weights=[embedding_matrix]), Flatten()])
# %% after q2_structure
import sys, threading
from tensorflow.keras.layers import Identity
def build():
    global model3
    sys.setrecursionlimit(200000)
    layers = [Identity() for _ in range(10)]
    inputs = Input(shape=[1])
    y = inputs
    for _ in range(1000):
        for layer in layers:
            y = layer(y)
    model3 = Model(inputs, y)
threading.stack_size(512 * 1024 * 1024)
worker = threading.Thread(target=build)
worker.start()
worker.join()
