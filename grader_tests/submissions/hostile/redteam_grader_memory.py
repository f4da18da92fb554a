# expect: q1_param_count=0 q2_structure=0 q2_shares_layer=0 q2_same_predictions=0 q2_follows_shared_weights=0
# flag: none
# Resource exhaustion of the GRADER (not the kernel) through a hand-over of a few kilobytes. A cell added after
# q2_structure (whose visible test builds model3) rebinds model3 to a Sequential of large Embedding layers that
# are never built in the kernel, so no weights are exported and MAX_NUMBERS/MAX_PARAMETERS never apply
# (the rebuilder counts exported weights only; the validator allows input_dim up to 10**6 and output_dim up to
# 10**5 per layer and 500 objects). The grader rebuilds them and the judges call model3, which builds every
# layer: each allocates and randomly initialises input_dim*output_dim floats in the grader's process (no
# memory or CPU limit there). Here 4 x 256 MB (peak several GB, seconds of CPU per judged cell); the
# allowed limits reach 500 layers of up to 400 GB each, enough to have the grading machine OOM-kill
# something. The score is the twin's: what goes wrong is the grader's memory and time.
# (model3 is another object in the later test cells than in q2_structure: the grader grades one model3 per
# question, so every cell of the question fails.)
# %% q1_answer
trainable_params_model2 = 80
# %% q2_answer
from tensorflow.keras.models import Sequential
model3 = Sequential([Embedding(output_dim=embedding_size, input_dim=vocab_size, weights=[embedding_matrix]), Flatten()])
# %% after q2_structure
big = [Embedding(input_dim=10**6, output_dim=64) for _ in range(4)]
model3 = Sequential([big[0], Flatten(), big[1], Flatten(), big[2], Flatten(), big[3], Flatten()])
