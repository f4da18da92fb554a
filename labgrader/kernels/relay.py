"""A byte relay between the grader's ZeroMQ sockets and a kernel's, that cuts any message over a cap.

Threat model: the kernel is the student's and may send anything over its sockets. ZeroMQ hands
a message to the application only once all its parts have arrived, so the grader's libzmq holds a
whole multipart message in memory first: ZMQ_MAXMSGSIZE bounds one part, not the sum (a kernel
sent 300 parts of 4 MiB: +1.2 GB in the grader), and when it trips, libzmq treats it as a
protocol error and never reconnects that channel (every later output of the kernel was lost).

So each channel goes through this relay (a few threads of the grader): it forwards the bytes of
the connection unchanged, both ways, and follows the ZMTP 3 framing of what the kernel sends.
When a message's parts add up to more than the cap, it closes both ends *before* forwarding the
frame that would cross it: the grader's libzmq sees an ordinary disconnection, drops the partial
message and reconnects (to the relay, which connects to the kernel again), and the grader never
holds more than the cap of it. What the kernel published while disconnected is lost, like the
oversized message (the cell may then wait out nbclient's iopub_timeout, or its own timeout if it
was the execute reply).

Unix sockets only (kernels are sandboxed without a network): the kernel listens at
``<kernel prefix>-<port>`` (its connection file); the grader connects to ``<relay prefix>-<port>``
in a directory of its own (0700), so the kernel cannot reach the relay.
"""
import os
import shutil
import socket
import struct
import tempfile
import threading

CHUNK = 64 * 1024
GREETING = 64  # ZMTP 3.x: signature (10), version (2), mechanism (20), as-server (1), filler (31)
MORE, LONG = 0x01, 0x02


class MessageTooLarge(Exception):
    pass


class MessageMeter:
    """Follows the ZMTP 3 frames of one direction of a connection (what the kernel sends)."""

    def __init__(self, limit):
        self.limit = limit
        self._header = b""        # greeting or frame header bytes seen so far
        self._body_left = 0       # bytes of the current frame's body still to come
        self._in_greeting = True
        self._message = 0         # bytes of the current (multipart) message so far

    def safe_prefix(self, data):
        """How many bytes of ``data`` may be forwarded; raises MessageTooLarge where a frame would
        take its message over the limit (the bytes before that frame are the safe prefix, given
        in the exception's ``args[0]``)."""
        pos = 0
        while pos < len(data):
            if self._body_left:
                step = min(self._body_left, len(data) - pos)
                self._body_left -= step
                pos += step
                continue
            self._header += data[pos:pos + 1]
            pos += 1
            if self._in_greeting:
                self._greeting_byte(pos)
            else:
                self._frame_header_byte(pos)
        return pos

    def _greeting_byte(self, pos):
        header = self._header
        if len(header) == 1 and header[0] != 0xFF or len(header) == 10 and header[9] & 1 != 1 \
                or len(header) == 11 and header[10] < 3:
            raise MessageTooLarge(max(0, pos - len(header)), "not ZMTP 3")  # an older framing this meter cannot follow
        if len(header) == GREETING:
            self._header, self._in_greeting = b"", False

    def _frame_header_byte(self, pos):
        header = self._header
        flags = header[0]
        need = 9 if flags & LONG else 2
        if len(header) < need:
            return
        size = struct.unpack(">Q", header[1:9])[0] if flags & LONG else header[1]
        if self._message + size > self.limit:
            raise MessageTooLarge(max(0, pos - len(header)), f"message over {self.limit} bytes")
        self._message = self._message + size if flags & MORE else 0
        self._body_left, self._header = size, b""


class Relay:
    """Relays the channels ``ports`` of the kernel listening at ``kernel_prefix`` (ipc transport)."""

    def __init__(self, kernel_prefix, ports, limit):
        self.kernel_prefix, self.limit = kernel_prefix, limit
        self.dir = tempfile.mkdtemp(prefix="labgrader-relay-")
        self.prefix = os.path.join(self.dir, "socket")
        self.cuts = 0  # connections closed for an oversized message
        self._closed = threading.Event()
        self._sockets = set()
        self._lock = threading.Lock()
        for port in ports:
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            listener.bind(f"{self.prefix}-{port}")
            listener.listen(8)
            self._track(listener)
            threading.Thread(target=self._accept, args=(listener, port), daemon=True,
                             name=f"labgrader-relay-{port}").start()

    def close(self):
        self._closed.set()
        with self._lock:
            for sock in list(self._sockets):
                _close(sock)
            self._sockets.clear()
        shutil.rmtree(self.dir, ignore_errors=True)

    def _track(self, sock):
        with self._lock:
            if self._closed.is_set():
                _close(sock)
                raise OSError("relay closed")
            self._sockets.add(sock)

    def _forget(self, *socks):
        with self._lock:
            for sock in socks:
                self._sockets.discard(sock)
                _close(sock)

    def _accept(self, listener, port):
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
            threading.Thread(target=self._pump, args=(kernel, grader, MessageMeter(self.limit)), daemon=True).start()
            threading.Thread(target=self._pump, args=(grader, kernel, None), daemon=True).start()

    def _pump(self, source, dest, meter):
        """Copy ``source`` to ``dest`` until either ends; with a meter, cut both before an oversized message."""
        try:
            while data := source.recv(CHUNK):
                try:
                    safe = meter.safe_prefix(data) if meter else len(data)
                except MessageTooLarge as exc:
                    dest.sendall(data[:exc.args[0]])
                    self.cuts += 1
                    break
                dest.sendall(data[:safe])
        except OSError:
            pass
        self._forget(source, dest)


def _close(sock):
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
