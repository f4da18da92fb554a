# expect: q1_param_count=2 q2_structure=0 q2_shares_layer=0 q2_same_predictions=0 q2_follows_shared_weights=0
# flag: none
# twin: list_and_flatten
# Grader CPU through a model that holds another model twice, fourteen levels deep (within the rebuild's nesting
# limit): a hand-over of 17 objects, never called in the kernel, whose one call runs 2^15 layers. The grader
# listed every layer by every path (layers_deep, used by the judges: 65,534 entries) and Keras built and ran them
# all, about 16 s of grader CPU per judged cell. Now layers are listed once each, and a model whose one call would
# run more than 10,000 layers is not gradable, before Keras builds it. (And since the merge with boundary's
# one object per question: model3 is another object after q2_structure than in it, so every cell of the
# question fails, q2_structure too, before anything is rebuilt.)
# %% q1_answer
trainable_params_model2 = 40
# %% q2_answer
from tensorflow.keras.models import Sequential
model3 = Sequential([embedding_layer, Flatten()])
# %% after q2_structure
from tensorflow.keras.layers import Identity
model3 = Sequential([embedding_layer, Flatten()])
for _ in range(14):
    model3 = Sequential([model3, model3])
