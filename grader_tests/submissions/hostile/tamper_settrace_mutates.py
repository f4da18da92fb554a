# expect: q1_param_count=0 q2_structure=0 q2_shares_layer=0 q2_same_predictions=0 q2_follows_shared_weights=0
# flag: a trace or profile function was running
# A trace function that swaps model3 for model2 in the namespace whenever the export reads it.
# %% q1_answer
import sys
def tracer(frame, event, arg):
    if event == "call" and frame.f_code.co_name == "answer":
        namespace = frame.f_locals.get("namespace")
        if isinstance(namespace, dict) and "model3" in namespace:
            namespace["model3"] = namespace["model2"]
    return None
sys.settrace(tracer)
trainable_params_model2 = 80
# %% q2_answer
from tensorflow.keras.models import Sequential
model3 = Sequential([Embedding(output_dim=embedding_size, input_dim=vocab_size, weights=[embedding_matrix]), Flatten()])
sys.settrace(tracer)
