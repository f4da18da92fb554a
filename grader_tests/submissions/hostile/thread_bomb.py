# expect: q1_param_count=0 q2_structure=0 q2_shares_layer=0 q2_same_predictions=0 q2_follows_shared_weights=0
# flag: none
# Starts 1000 threads and holds them for a few seconds: when every kernel ran as the same user,
# this used up the process cap they all shared, and students graded beside it scored 0-2/8.
# %% q1_answer
trainable_params_model2 = 12
import threading, time
threading.stack_size(64 * 1024)
hold = threading.Event()
started = 0
try:
    for _ in range(1000):
        threading.Thread(target=hold.wait, args=(4,), daemon=True).start()
        started += 1
except RuntimeError as e:
    print("started", started, "threads:", e)
time.sleep(4)
hold.set()
# %% q2_answer
model3 = None
