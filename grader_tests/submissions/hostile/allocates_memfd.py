# expect: q1_param_count=2 q2_structure=0 q2_shares_layer=0 q2_same_predictions=0 q2_follows_shared_weights=0
# Fills an anonymous in-memory file (memfd) with write(): host memory that neither the address-space
# cap nor the tmpfs caps see (a red team held 750 MiB beyond them this way). As root its pages count
# against the kernel's memory cgroup (2 GiB): the kernel is killed there like any dead kernel and
# keeps the first answer's points; without a cgroup (grader not root) memfd_create is refused.
# %% q1_answer
trainable_params_model2 = 40
# %% q2_answer
import os
hoard = os.memfd_create("hoard")
for _ in range(3 * 1024):
    os.write(hoard, b"x" * 1024 * 1024)
print("held 3 GiB of host memory")
model3 = None
