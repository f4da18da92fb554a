# expect: q1_param_count=0 q2_structure=0 q2_shares_layer=0 q2_same_predictions=0 q2_follows_shared_weights=0
# flag: none
# Fills its working copy (once unlimited, and left behind on the grader's disk) with files.
# %% q1_answer
trainable_params_model2 = 12
import os
written = 0
try:
    for i in range(64):
        with open(f"filler_{i}.bin", "wb") as f:
            for _ in range(4):
                f.write(b"\1" * 8 * 1024 ** 2)
                f.flush()
                written += 8 * 1024 ** 2
except OSError as e:
    print("stopped after", written, "bytes:", e)
# %% q2_answer
model3 = None
