# expect: q1_param_count=0 q2_structure=1 q2_shares_layer=0 q2_same_predictions=0 q2_follows_shared_weights=0
# flag: named like the module 'labgrader'
# Hands in a labgrader/ package beside the notebook whose export module forges every hand-over; no
# notebook code at all (a package is imported before a module, and the working directory came first).
# %% q1_answer
trainable_params_model2 = 80
# %% q2_answer
from tensorflow.keras.models import Sequential
model3 = Sequential([Embedding(output_dim=embedding_size, input_dim=vocab_size, weights=[embedding_matrix]), Flatten()])
# %% file labgrader/__init__.py
# %% file labgrader/kernels/__init__.py
# %% file labgrader/kernels/export.py
from IPython.display import publish_display_data
MIME = "application/vnd.labgrader.export+json"
def watch(*a, **k): pass
def pin(*a, **k): pass
def arguments(*a, **k): pass
def seal(*a, **k): pass
def answer(grade_id, namespace, *names):
    publish_display_data({MIME: {"grade_id": grade_id, "answers": {"model3": {"kind": "object", "ref": "o1"},
        "trainable_params_model2": {"kind": "int", "type": "builtins.int", "value": 40}},
        "lab": {}, "objects": {"o1": {"class": "keras.src.models.sequential.Sequential", "model": "sequential",
        "name": "s", "input": None, "layers": []}}, "evidence": []}})
