"""What the asyncio and poll drivers share: one non-blocking UDP socket and the drain.

Machines see peer addresses as `(ip, port)` tuples on every runtime. The MicroPython Unix port's
sockets speak raw sockaddr bytes instead, so `UdpPort` decodes those on receive and keeps the
socket's form of each peer it has heard from or sent to (resolved once: a client sends first),
a few entries, bounded.
"""

import socket

from rtc_micro import events
from rtc_micro.compat import ticks_diff, ticks_ms

_MAX_PEERS = 16  # raw-address cache entries (one per remote candidate seen)
_PEEK = getattr(socket, "MSG_PEEK", 0)
_HEAD = 13  # bytes peeked: a DTLS record header, a STUN length


def _size(head):
    """The datagram's length where its first bytes tell it (RFC 7983 demux), else 0: a STUN
    message, or one DTLS application-data record (what a connected peer sends per datagram)."""
    if len(head) >= 4 and head[0] < 4:  # STUN: 20-byte header + length (RFC 8489 §5)
        return 20 + (head[2] << 8 | head[3])
    if len(head) >= _HEAD and head[0] == 23:  # DTLS application_data (RFC 6347 §4.1)
        return _HEAD + (head[11] << 8 | head[12])
    return 0


def _sockaddr(host, port):
    return socket.getaddrinfo(host, port, 0, socket.SOCK_DGRAM)[0][-1]


class UdpPort:
    """A bound, non-blocking UDP socket with tuple addresses: `recv()`, `send(data, addr)`.

    `rx` is the receive buffer's size, or a bytearray to receive into. Ports on one loop can
    share one: a machine handles a datagram and is drained before its driver reads another or
    yields, so sessions of a device need not each keep an MTU-sized buffer.
    """

    def __init__(self, host, port, rx):
        self.host = host
        self.port = port
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(_sockaddr(host, port))
        self.sock.setblocking(False)
        self.buf = bytearray(rx) if isinstance(rx, int) else rx
        self.rx_size = len(self.buf)
        self._recv_into = getattr(self.sock, "recvfrom_into", None)
        self._peek = bool(_PEEK)  # cleared when this port's recvfrom takes no flags
        self._raw = {}  # (ip, port) -> address as the socket wants it
        self._last = None  # the socket's form of the last source
        self.addr = None  # source of the last recv()
        self.send_errors = 0
        self.rx_no_heap = 0  # datagrams recvfrom had no heap for, read into `buf` instead
        self.rx_unaddressed = 0  # of those, taken as from the last source (no MSG_PEEK)
        self.rx_dropped = 0  # datagrams dropped: no heap to receive them, no source known

    def recv(self):
        """Length of the next datagram, now in `self.buf` (machines parse and may rewrite it in
        place), with its source in `self.addr`; 0 when none waits."""
        try:
            if self._recv_into is not None:
                n, raw = self._recv_into(self.buf)
            elif self._peek:
                return self._recv_peeked()
            else:
                n, raw = self._recv_copy()
        except OSError:  # EAGAIN: nothing waiting
            return 0
        except MemoryError:
            return self._recv_without_heap(None)
        self._source(raw)
        return n

    def _recv_copy(self):
        """Without recvfrom_into or MSG_PEEK: recvfrom allocates `rx_size` bytes, takes the
        datagram, then allocates a copy of it, which we copy into the reused buffer."""
        data, raw = self.sock.recvfrom(self.rx_size)
        n = len(data)
        self.buf[0:n] = data
        return n, raw

    def _recv_peeked(self):
        """Peek at the first 13 bytes and the source (MSG_PEEK: small blocks) and read a datagram
        whose first bytes tell its length (`_size`: a STUN message, a DTLS application-data
        record: all a connected peer sends) straight into the buffer with readinto, which
        allocates nothing. recvfrom's copy could fail after the datagram had left the socket:
        with two sessions up on the esp32's heap that lost SCTP chunks, silently, and the
        peer's retransmissions with them. readinto reads like a stream (a next waiting datagram
        is appended), so it gets the exact length (one shorter than its header says takes the
        start of the next with it, and the machines drop both as malformed). Anything else (a
        DTLS handshake flight may hold several records) is peeked whole for its length: that
        allocates as recvfrom does, but when it fails nothing has left the socket."""
        try:
            head, raw = self.sock.recvfrom(_HEAD, _PEEK)
        except TypeError:  # this port's recvfrom takes no flags
            self._peek = False
            return self.recv()
        except MemoryError:
            return self._recv_without_heap(None)
        size = _size(head)
        if not size:
            try:
                size = len(self.sock.recvfrom(self.rx_size, _PEEK)[0])
            except MemoryError:
                return self._recv_without_heap(raw)
            if not size:  # an empty datagram: off the queue, nothing to hand on
                self.sock.recvfrom(1)
                return 0
        n = self.sock.readinto(self.buf, min(size, self.rx_size))
        self._source(raw)
        return n

    def _recv_without_heap(self, raw):
        """No block for recvfrom's bytes (it allocates `rx_size` before it even looks for a
        datagram): read the datagram into our buffer, up to `rx_size` (a second waiting
        datagram may be appended, cut short; the machines drop that as malformed). Without a
        peeked source it is taken as from the last one (a session's port hears one peer; the
        machines authenticate it as ever), or dropped when none is known. Either way it does
        not stay queued to fail again on every pass."""
        try:
            n = self.sock.readinto(self.buf, self.rx_size)
        except OSError:
            n = 0
        if not n:  # nothing was waiting
            return 0
        self.rx_no_heap += 1
        if raw is not None:
            self._source(raw)
        elif self.addr is None:
            self.rx_dropped += 1
            return 0
        else:
            self.rx_unaddressed += 1
        return n

    def _source(self, raw):
        if raw == self._last:  # the last datagram's peer: nothing to decode again
            return
        self._last = raw
        if isinstance(raw, tuple):
            self.addr = raw[0:2]
        else:  # MicroPython Unix port: raw sockaddr bytes
            fam, ip, port = socket.sockaddr(raw)
            self.addr = (socket.inet_ntop(fam, ip), port)
            if self.addr not in self._raw:
                self._remember(self.addr, raw)

    def _remember(self, addr, raw):
        if len(self._raw) >= _MAX_PEERS:
            self._raw.clear()
        self._raw[addr] = raw
        return raw

    def send(self, data, addr):
        """Send one datagram; a full socket buffer drops it (counted), as the network would."""
        try:
            raw = self._raw.get(addr)
            if raw is None:  # a peer we have not heard from yet: resolve once
                raw = self._remember(addr, _sockaddr(addr[0], addr[1]))
            self.sock.sendto(data, raw)
        except OSError:
            self.send_errors += 1

    def close(self):
        self.sock.close()


def drain(machine, port, on_event):
    """Empty `machine.poll()`: transmit datagrams, hand every other event to `on_event`.

    `on_event(machine, kind)` reads the details (`out_data`, `out_channel`, ...) before it
    returns; they are reused by the next poll.
    """
    while True:
        kind = machine.poll()
        if not kind:
            return
        if kind == events.TRANSMIT:
            port.send(machine.out_data, machine.out_addr)
        elif on_event is not None:
            on_event(machine, kind)


def pump(machine, port, on_event):
    """Drain what API calls queued, then feed every waiting datagram and any due timer to
    `machine`, draining after each.

    Returns `machine.poll_timeout()` afterwards (absolute ticks ms, or None).
    """
    drain(machine, port, on_event)
    while True:
        n = port.recv()
        if not n:
            break
        machine.handle_datagram(port.buf, n, port.addr, ticks_ms())
        drain(machine, port, on_event)
    at = machine.poll_timeout()
    now = ticks_ms()
    if at is not None and ticks_diff(at, now) <= 0:
        machine.handle_timeout(now)
        drain(machine, port, on_event)
        at = machine.poll_timeout()
    return at
