# expect: q1_param_count=2 q2_structure=1 q2_shares_layer=2 q2_same_predictions=1 q2_follows_shared_weights=2
# Honest exploration: times its own cells (import time).
# %% q1_answer
import time
started = time.time()
trainable_params_model2 = sum(w.size for w in model2.get_weights())
print(f"counted in {time.time() - started:.4f} s")
# %% q2_answer
import time
from tensorflow.keras.models import Sequential

started = time.perf_counter()
model3 = Sequential([embedding_layer, Flatten()])
print(model3.predict(labels_to_encode, verbose=0), time.perf_counter() - started)
