# expect: q1_param_count=2 q2_structure=0 q2_shares_layer=0 q2_same_predictions=0 q2_follows_shared_weights=0
# flag: the hand-over names other answers or lab objects than the instructor's run
# twin: list_and_flatten
# One line in one hand-in used to stop the class: emptying the export module's dict of pinned lab objects (a
# plain dict, not watched) leaves every later hand-over with no lab objects. The grader accepted lab names that
# were a subset of the reference's, so the lab's judge asked for the pinned model and raised an error that is
# not NotGradable (UnknownName); JudgeAnswers took it for a bug of the lab: LabError, grading stopped for the
# whole class (batch and plain), and the grading service paused the assignment for everyone. Now the lab names
# must equal the reference's (this hand-over is malformed, and flagged), and nothing the judge does on a
# student's hand-over is a lab error.
# %% q1_answer
trainable_params_model2 = 40
# %% q2_answer
from tensorflow.keras.models import Sequential
model3 = Sequential([embedding_layer, Flatten()])
from labgrader.kernels import export
export._pinned.clear()
