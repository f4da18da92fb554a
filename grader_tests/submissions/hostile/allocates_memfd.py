# expect: q1_param_count=2 q2_structure=0 q2_shares_layer=0 q2_same_predictions=0 q2_follows_shared_weights=0
# Fills anonymous in-memory files (memfd, 128 MiB each: under the file-size cap) with write(): host
# memory that neither the address-space cap nor the tmpfs caps see (a red team held 750 MiB beyond
# them this way). As root their pages count against the kernel's memory cgroup (2 GiB): the kernel
# is killed there like any dead kernel and keeps the first answer's points; without a cgroup
# (grader not root) memfd_create is refused.
# %% q1_answer
trainable_params_model2 = 40
# %% q2_answer
import os
hoard = []
for _ in range(24):
    hoard.append(os.memfd_create("hoard"))
    for _ in range(128):
        os.write(hoard[-1], b"x" * 1024 * 1024)
print("held", 128 * len(hoard), "MiB of host memory")
model3 = None
