# expect: q1_param_count=2 q2_structure=0 q2_shares_layer=0 q2_same_predictions=0 q2_follows_shared_weights=0
# flag: the lab's own model2 is not what the lab's cells built
# flag: model2 does not compute what the hand-over describes
# twin: list_and_flatten
# A correct hand-in, plus one line: model2's output structure (an instance attribute the exporter reads through
# Functional.get_config) now lists its output twice. The structure the grader compares (layers, settings,
# sharing) ignores a functional model's inputs and outputs, so the rebuilt model2 returns two outputs; the
# lab's judge then reshapes them (q2_follows_shared_weights) and raises ValueError, which the grader takes
# for a bug of the lab: LabError, and grading stops for the whole class ("no student was flagged").
# %% q1_answer
trainable_params_model2 = 40
# %% q2_answer
from tensorflow.keras.models import Sequential
model3 = Sequential([embedding_layer, Flatten()])
object.__setattr__(model2, "_outputs_struct", [model2._outputs_struct, model2._outputs_struct])
