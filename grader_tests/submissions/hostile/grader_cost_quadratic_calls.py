# expect: q1_param_count=2 q2_structure=0 q2_shares_layer=0 q2_same_predictions=0 q2_follows_shared_weights=0
# flag: none
# twin: list_and_flatten
# Grader CPU through the functional rebuild: after q2_structure, model3 becomes a functional model of 300
# Identity layers in a chain (t1..t300) and 190 more, each called on [t1, ..., t300, previous]. The rebuilder
# parked each waiting call under the first tensor it missed and, whenever that tensor appeared, resolved the
# call's whole argument list again up to the next missing one: every call re-resolved 300 times, about
# 190 x 300^2 / 2 steps per rebuild (7.6 MB of hand-over, ~8 s of grader CPU), once per judged cell. Now each
# argument is looked at twice, and the 57,000 tensors these calls take are over the rebuild's budget (8,000):
# not gradable, said in the message, before Keras builds anything. (Since the merge with boundary's one object
# per question: its later hand-overs, over the grader's JSON budget by themselves, are dropped unread, so they
# count as another object than q2_structure's and every cell of the question fails.)
# %% q1_answer
trainable_params_model2 = 40
# %% q2_answer
from tensorflow.keras.models import Sequential
model3 = Sequential([embedding_layer, Flatten()])
# %% after q2_structure
from tensorflow.keras.layers import Identity
x = Input(shape=[1])
chain, y = [], x
for _ in range(300):
    y = Identity()(y)
    chain.append(y)
for _ in range(190):
    y = Identity()(chain + [y])[-1]
model3 = Model(x, y)
