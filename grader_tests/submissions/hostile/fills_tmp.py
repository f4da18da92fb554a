# expect: q1_param_count=0 q2_structure=0 q2_shares_layer=0 q2_same_predictions=0 q2_follows_shared_weights=0
# flag: none
# Fills the sandbox's /tmp (once an unlimited tmpfs in the host's RAM): the write must fail inside the kernel.
# %% q1_answer
trainable_params_model2 = 12
import os
written = 0
try:
    with open("/tmp/fill", "wb") as f:
        while written < 2 * 1024 ** 3:
            f.write(b"\0" * 8 * 1024 ** 2)
            f.flush()
            written += 8 * 1024 ** 2
except OSError as e:
    print("stopped after", written, "bytes:", e)
# %% q2_answer
model3 = None
