"""The fork server's client side: one JSON request, one JSON reply, over its Unix socket
(``labgrader.kernels.forkserver`` is the server; the provisioner and the tests are clients)."""
import asyncio
import json
import socket
from typing import Any, Callable

# This process's own fork server, for a command that grades one submission after another (plain
# `nbgrader autograde`): labgrader.kernels.forkserver.warm_this_process sets it; the kernel manager
# calls it with its config when a kernel starts, and gets a server to fork from (None: none here).
process_server: Callable[[Any], Any] | None = None


def request(path: str, message: dict[str, Any], fds: tuple[int, ...] = ()) -> Any:
    """Client side: one request, one reply; ``fds`` go with the request (SCM_RIGHTS)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(path)
        data = json.dumps(message).encode() + b"\n"
        if fds:
            sent = socket.send_fds(sock, [data], list(fds))
            sock.sendall(data[sent:])
        else:
            sock.sendall(data)
        with sock.makefile("rb") as stream:
            line = stream.readline()
    if not line:
        return {"error": "the fork server closed the connection without a reply (see its messages above)"}
    return json.loads(line)


async def request_async(path: str, message: dict[str, Any]) -> Any:
    """``request`` without blocking the caller's event loop (the kernel manager's)."""
    reader, writer = await asyncio.open_unix_connection(path, limit=1024 * 1024)
    try:
        writer.write(json.dumps(message).encode() + b"\n")
        await writer.drain()
        line = await reader.readline()
    finally:
        writer.close()
        await writer.wait_closed()
    if not line:
        return {"error": "the fork server closed the connection without a reply (see its messages above)"}
    return json.loads(line)
