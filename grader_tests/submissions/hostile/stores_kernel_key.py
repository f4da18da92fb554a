# expect: q1_param_count=2 q2_structure=0 q2_shares_layer=0 q2_same_predictions=0 q2_follows_shared_weights=0
# Stores a key in the per-uid keyring, which outlives the kernel: the next kernel leased the same
# uid (reads_kernel_key) would read it. The kernels' seccomp filter refuses add_key/keyctl (EPERM).
# %% q1_answer
trainable_params_model2 = 40
import ctypes, errno
libc = ctypes.CDLL(None, use_errno=True)
KEY_SPEC_USER_KEYRING = -4
key = libc.syscall(248, b"user", b"labgrader-probe", b"answers of student A", 20, ctypes.c_long(KEY_SPEC_USER_KEYRING))
print("add_key:", key if key >= 0 else errno.errorcode[ctypes.get_errno()])
# %% q2_answer
model3 = None
