"""A thin blocking UDP driver for one sans-I/O machine (both runtimes; tools, examples, tests).

`UdpDriver` owns a socket and reads the clock. `step(machine, timeout_ms)` drains the machine's
output to `peer`, waits (select.poll) until a datagram arrives or the machine's deadline passes,
and feeds the machine. The datagram is copied into a reused bytearray, because machines such as
DTLS decrypt in place. Addresses are opaque: MicroPython's Unix port gives raw sockaddr bytes
(`describe()` decodes them with `socket.sockaddr`), boards and CPython give (host, port) tuples.
"""

import select
import socket

from rtc_micro.compat import MICROPYTHON, ticks_diff, ticks_ms


def resolve(host, port):
    """The socket address of `host:port` as this runtime's sendto() wants it."""
    return socket.getaddrinfo(host, port, 0, socket.SOCK_DGRAM)[0][-1]


def describe(addr):
    """`ip:port` of a socket address (raw sockaddr bytes on the MicroPython Unix port)."""
    if MICROPYTHON and not isinstance(addr, tuple):
        fam, ip, port = socket.sockaddr(addr)
        return "%s:%d" % (socket.inet_ntop(fam, ip), port)
    return "%s:%d" % (addr[0], addr[1])


class UdpDriver:
    """One UDP socket feeding one machine; `peer` is learnt from the first datagram if None."""

    def __init__(self, host="0.0.0.0", port=0, peer=None, rx_size=2048):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(resolve(host, port))
        self.peer = peer
        self.rx = bytearray(rx_size)
        self._poll = select.poll()
        self._poll.register(self.sock, select.POLLIN)
        self.sent = 0
        self.received = 0
        # The Unix port has no getsockname(): bind an explicit port there.
        self.port = self.sock.getsockname()[1] if hasattr(self.sock, "getsockname") else port

    def flush(self, machine):
        """Send everything the machine has to transmit (to `peer`, once known)."""
        while True:
            n = machine.poll_transmit()
            if not n:
                return
            if self.peer is not None:
                self.sock.sendto(machine.out_data[0:n], self.peer)
                self.sent += 1

    def step(self, machine, timeout_ms):
        """Flush, wait up to `timeout_ms` (less when a timer is due), feed a datagram, fire due
        timers, flush again. True when a datagram was handled."""
        self.flush(machine)
        wait = timeout_ms
        at = machine.poll_timeout()
        if at is not None:
            wait = max(0, min(wait, ticks_diff(at, ticks_ms())))
        got = False
        if self._poll.poll(wait):
            data, addr = self.sock.recvfrom(len(self.rx))
            if self.peer is None:
                self.peer = addr
            n = len(data)
            self.rx[0:n] = data
            self.received += 1
            machine.handle_packet(self.rx, n, ticks_ms())
            got = True
        at = machine.poll_timeout()
        now = ticks_ms()
        if at is not None and ticks_diff(at, now) <= 0:
            machine.handle_timeout(now)
        self.flush(machine)
        return got

    def close(self):
        self.sock.close()
