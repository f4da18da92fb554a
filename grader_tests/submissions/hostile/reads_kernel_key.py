# expect: q1_param_count=2 q2_structure=0 q2_shares_layer=0 q2_same_predictions=0 q2_follows_shared_weights=0
# Looks for a key an earlier kernel with the same uid stored (stores_kernel_key): request_key and
# keyctl are refused by the kernels' seccomp filter, and /proc/keys shows nothing of another kernel.
# %% q1_answer
trainable_params_model2 = 40
import ctypes, errno
libc = ctypes.CDLL(None, use_errno=True)
key = libc.syscall(249, b"user", b"labgrader-probe", None, ctypes.c_long(0))
print("request_key:", key if key >= 0 else errno.errorcode[ctypes.get_errno()])
try:
    print("keys seen:", [line for line in open("/proc/keys") if "labgrader-probe" in line])
except OSError as e:
    print("keys seen: none,", e.strerror)
# %% q2_answer
model3 = None
