# expect: q1_param_count=2 q2_structure=1 q2_shares_layer=2 q2_same_predictions=1 q2_follows_shared_weights=2
# flag: none
# twin: list_and_flatten
# Grader memory through kernel messages: a post_run_cell hook (it runs first right after the cell that
# registers it) publishes three 30 MB display messages of the export's type, each a JSON array of 7.5 million
# empty arrays (just under the relay's 32 MiB cap). The grader parsed each one in full (jupyter_client's JSON,
# nbclient, nbformat's from_dict and validation) before any budget applied: about 1.5 GB of grader memory and
# 30 s of its CPU. The session now measures a message's bytes and JSON values before parsing it and drops this
# one unread (a note in the cell: outputs that large are cut anyway, so no flag).
# %% q1_answer
trainable_params_model2 = 40
# %% q2_answer
from tensorflow.keras.models import Sequential
model3 = Sequential([embedding_layer, Flatten()])
from IPython.display import publish_display_data
_sent = []
def _flood(result):
    if _sent:
        return
    _sent.append(1)
    for _ in range(3):
        publish_display_data({"application/vnd.labgrader.export+json": [[]] * 7_500_000})
get_ipython().events.register("post_run_cell", _flood)
