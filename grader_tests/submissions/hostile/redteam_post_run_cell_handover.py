# expect: q1_param_count=0 q2_structure=0 q2_shares_layer=0 q2_same_predictions=0 q2_follows_shared_weights=0
# flag: hand-over message(s) the grader did not ask for
# twin: counts_both_models_fresh_layer
# A post_run_cell hook that, after each test cell, clears the cell's outputs and publishes a hand-over of its
# own: the right answers (40, and a model3 stacking the shared embedding_layer), encoded as the exporter
# encodes them, for a notebook whose real model3 holds a fresh Embedding. The grader used to count the
# hand-overs left in the cell's outputs, which clear_output empties; it now hands over itself, after the
# cell, and counts every grader message as it arrives.
# %% q1_answer
trainable_params_model2 = 80
from IPython import get_ipython
from IPython.display import clear_output, publish_display_data
from labgrader.kernels import export

def forge(result):
    source = result.info.raw_cell or ""
    cells = {"Your answer has the right form": "q1_param_count", "is a Sequential model and has": "q2_structure",
             "very embedding layer object": "q2_shares_layer", "same embedding vector as model2": "q2_same_predictions",
             "shares the embedding weights": "q2_follows_shared_weights"}
    for needle, grade_id in cells.items():
        if needle in source:
            from tensorflow.keras.models import Sequential
            clear_output()
            encoder = export.Encoder()
            answers = {"trainable_params_model2": 40} if grade_id == "q1_param_count" else \
                {"model3": Sequential([embedding_layer, Flatten()])}
            record = {"grade_id": grade_id, "answers": {k: encoder.encode(v) for k, v in answers.items()},
                      "lab": {k: encoder.encode(v) for k, v in export._pinned.items()}, "objects": encoder.objects,
                      "ids": encoder.ids, "evidence": [], "watched": True}
            publish_display_data({export.MIME: record, "text/plain": ""})

get_ipython().events.register("post_run_cell", forge)
# %% q2_answer
from tensorflow.keras.models import Sequential
model3 = Sequential([Embedding(output_dim=embedding_size, input_dim=vocab_size, weights=[embedding_matrix]), Flatten()])
