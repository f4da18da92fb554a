"""A byte relay between the grader's ZeroMQ sockets and a kernel's that drops any message over a cap.

Threat model: the kernel is the student's and may send anything over its sockets. ZeroMQ hands
a message to the application only once all its parts have arrived, so the grader's libzmq holds a
whole multipart message in memory first: ZMQ_MAXMSGSIZE bounds one part, not the sum (a kernel
sent 300 parts of 4 MiB: +1.2 GB in the grader), and when it trips, libzmq treats it as a
protocol error and never reconnects that channel (every later output of the kernel was lost).

So each channel goes through this relay (a few threads of the grader). It forwards the grader's
bytes to the kernel unchanged; of the kernel's, it follows the ZMTP 3 framing and forwards each
message once it is complete, if all its parts add up to at most the cap. A larger message is
dropped as it streams in (the relay holds at most the cap of it) and never reaches the grader;
the connection stays up, so nothing else is lost: the kernel's next message (the cell's idle
status, its reply) arrives as usual. A stream that is not ZMTP 3 is cut (the grader's libzmq
reconnects). Past ``max_messages`` messages of the kernel on one channel, the relay stops reading
that channel: following the framing costs the grader about what sending costs the kernel, so a
kernel flooding tiny messages would keep the grader busy for as long as it runs; unread, they pile
up in the kernel's own buffers until its ZeroMQ drops them. (The grader's session stops reading
the kernel's outputs well before: GradingSession.max_messages.)

Unix sockets only (kernels are sandboxed without a network): the kernel listens at
``<kernel prefix>-<port>`` (its connection file); the grader connects to ``<relay prefix>-<port>``
in a directory of its own (0700), so the kernel cannot reach the relay.
"""
from __future__ import annotations

import atexit
import os
import shutil
import socket
import struct
import tempfile
import threading
from collections.abc import Iterable

from labgrader.errors import LabgraderError

CHUNK = 64 * 1024
GREETING = 64  # ZMTP 3.x: signature (10), version (2), mechanism (20), as-server (1), filler (31)
MORE, LONG, COMMAND = 0x01, 0x02, 0x04
_open: set[Relay] = set()  # closed at exit should a kernel manager never be shut down


class NotZmtp3(LabgraderError):
    """The kernel speaks a framing the filter cannot follow: the connection is cut."""


class MessageFilter:
    """Follows the ZMTP 3 frames a kernel sends; ``feed`` returns what may go on to the grader."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.dropped = 0          # messages over the limit, dropped whole
        self.messages = 0         # messages complete, forwarded or dropped
        self._greeting_left = GREETING
        self._signature = b""
        self._header = b""        # the current frame header, while incomplete
        self._body_left = 0       # bytes of the current frame's body still to come
        self._more = False        # the current frame is not its message's last
        self._message = bytearray()  # the current message's frames (headers and bodies), held until complete
        self._size = 0            # the current message's body bytes so far
        self._dropping = False    # the current message went over the limit

    def feed(self, data: bytes) -> bytes:
        out = bytearray()
        pos = 0
        while pos < len(data):
            if self._greeting_left:
                pos = self._greeting(data, pos, out)
            elif self._body_left:
                step = min(self._body_left, len(data) - pos)
                if not self._dropping:
                    self._message += data[pos:pos + step]
                self._body_left -= step
                pos += step
                if not self._body_left:
                    self._frame_done(out)
            else:
                self._header += data[pos:pos + 1]
                pos += 1
                self._header_byte(out)
        return bytes(out)

    def _greeting(self, data: bytes, pos: int, out: bytearray) -> int:
        step = min(self._greeting_left, len(data) - pos)
        chunk = data[pos:pos + step]
        if len(self._signature) < 11:
            self._signature += chunk[:11 - len(self._signature)]
            sig = self._signature
            if sig[:1] != b"\xff" or len(sig) >= 10 and sig[9] & 1 != 1 or len(sig) == 11 and sig[10] < 3:
                raise NotZmtp3("not ZMTP 3")
        out += chunk
        self._greeting_left -= step
        return pos + step

    def _header_byte(self, out: bytearray) -> None:
        header = self._header
        if len(header) < (9 if header[0] & LONG else 2):
            return
        flags = header[0]
        size = struct.unpack(">Q", header[1:9])[0] if flags & LONG else header[1]
        self._header, self._body_left, self._more = b"", size, bool(flags & MORE) and not flags & COMMAND
        if not self._dropping and self._size + size > self.limit:
            self._dropping, self._message = True, bytearray()  # what was held of it goes too
            self.dropped += 1
        if not self._dropping:
            self._message += header
            self._size += size
        if not size:
            self._frame_done(out)

    def _frame_done(self, out: bytearray) -> None:
        if self._more:
            return
        self.messages += 1
        if not self._dropping:
            out += self._message
        self._message, self._size, self._dropping = bytearray(), 0, False


class Relay:
    """Relays the channels ``ports`` of the kernel listening at ``kernel_prefix`` (ipc transport)."""

    def __init__(self, kernel_prefix: str, ports: Iterable[int], limit: int, max_messages: int | None = None) -> None:
        self.kernel_prefix, self.limit, self.max_messages = kernel_prefix, limit, max_messages
        self.messages: dict[int, int] = {}  # port -> the kernel's messages on it, all its connections together
        self.dir = tempfile.mkdtemp(prefix="labgrader-relay-")
        _open.add(self)
        self.prefix = os.path.join(self.dir, "socket")
        self.dropped = 0  # oversized messages of the kernel, dropped
        self._closed = threading.Event()
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        for port in ports:
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            listener.bind(f"{self.prefix}-{port}")
            listener.listen(8)
            self._track(listener)
            threading.Thread(target=self._accept, args=(listener, port), daemon=True,
                             name=f"labgrader-relay-{port}").start()

    def close(self) -> None:
        _open.discard(self)
        self._closed.set()
        with self._lock:
            for sock in list(self._sockets):
                _close(sock)
            self._sockets.clear()
        shutil.rmtree(self.dir, ignore_errors=True)

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            if self._closed.is_set():
                _close(sock)
                raise OSError("relay closed")
            self._sockets.add(sock)

    def _forget(self, *socks: socket.socket) -> None:
        with self._lock:
            for sock in socks:
                self._sockets.discard(sock)
                _close(sock)

    def _accept(self, listener: socket.socket, port: int) -> None:
        while not self._closed.is_set():
            try:
                grader, _ = listener.accept()
                self._track(grader)
            except OSError:
                return
            kernel = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                self._track(kernel)
                kernel.connect(f"{self.kernel_prefix}-{port}")
            except OSError:  # the kernel is gone or not listening yet: the grader's libzmq retries
                self._forget(grader, kernel)
                continue
            threading.Thread(target=self._pump, args=(kernel, grader, MessageFilter(self.limit), port), daemon=True).start()
            threading.Thread(target=self._pump, args=(grader, kernel, None, port), daemon=True).start()

    def _pump(self, source: socket.socket, dest: socket.socket, message_filter: MessageFilter | None, port: int) -> None:
        """Copy ``source`` to ``dest`` until either ends, through ``message_filter`` if given (the
        kernel's side: until it sent ``max_messages`` on this channel, then no more is read)."""
        try:
            while data := source.recv(CHUNK):
                if message_filter:
                    before, counted = message_filter.dropped, message_filter.messages
                    data = message_filter.feed(data)
                    self.dropped += message_filter.dropped - before
                    self.messages[port] = self.messages.get(port, 0) + message_filter.messages - counted
                if data:
                    dest.sendall(data)
                if self.max_messages is not None and self.messages.get(port, 0) > self.max_messages:
                    return  # unread from here on (both sockets stay open until the relay closes)
        except (OSError, NotZmtp3):
            pass
        self._forget(source, dest)


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


@atexit.register
def _close_leftovers() -> None:
    for relay in list(_open):
        relay.close()
