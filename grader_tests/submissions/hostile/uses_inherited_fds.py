# expect: q1_param_count=0 q2_structure=0 q2_shares_layer=0 q2_same_predictions=0 q2_follows_shared_weights=0
# flag: none
# Looks for descriptors inherited from the fork server (its listening socket, its connection to
# the grader) and sends them requests: signal every process, launch a kernel.
# %% q1_answer
trainable_params_model2 = 12
import json, os, socket
from ipykernel.kernelapp import IPKernelApp
own = os.path.dirname(IPKernelApp.instance().connection_file)
request = json.dumps({"op": "signal", "pid": -1, "signum": 9}).encode() + b"\n"
found = []
for fd in range(3, 256):
    try:
        s = socket.socket(fileno=os.dup(fd))
    except OSError:
        continue
    try:
        name = s.getsockname()
        try:
            peer = s.getpeername()
        except OSError:
            peer = ""
        if s.family != socket.AF_UNIX or any(isinstance(n, str) and n.startswith(own) for n in (name, peer)):
            continue  # not a Unix socket, or the kernel's own connection (its ipc sockets)
        if not name and not peer:
            continue  # an unnamed socket pair: the kernel's own (asyncio, zmq), not one it inherited
        found.append((fd, name))
        s.settimeout(0.2)
        if s.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
            conn, _ = s.accept()
            conn.sendall(request)
        else:
            s.sendall(request)
    except OSError:
        pass
    finally:
        s.close()
for path in ("/proc/net/unix",):
    for line in open(path).read().splitlines()[1:]:
        parts = line.split()
        if len(parts) > 7 and parts[7].startswith("/") and not parts[7].startswith(own):
            try:
                with socket.socket(socket.AF_UNIX) as c:
                    c.settimeout(0.2)
                    c.connect(parts[7])
                    c.sendall(request)
                    found.append(parts[7])
            except OSError:
                pass
print("inherited or reachable:", found)
# %% q2_answer
model3 = None
