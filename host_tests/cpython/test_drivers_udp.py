"""The asyncio and select.poll drivers on real loopback UDP, on CPython and on MicroPython.

A toy machine with the PeerConnection drain contract echoes datagrams and raises an event per
datagram and per timer tick; a CPython client checks the echoes and the tick events' count.
The greet tests check what a client needs: `flush()` sends what an API call queued, fires a due
timer at once, and sends to an address the socket has never heard from (the Unix port's
sockets want it resolved first).
"""

import os
import socket
import subprocess
import sys
import time

from host_tests.cpython import mpy_tree

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MICROPYTHON = os.path.join(ROOT, ".venv", "bin", "micropython")

# The machine and the program around it, run by both runtimes (argv: driver, port, seconds).
PROGRAM = r'''
import sys
sys.path.insert(0, ROOT)
from rtc_micro import events
from rtc_micro.compat import ticks_add, ticks_diff

TICK = 7

class EchoMachine:
    def __init__(self):
        self.out_data = None
        self.out_addr = None
        self.pending = []
        self.tick_at = None
        self.ticks = 0
        self.got = 0
        self.greet = None  # an address to send b"hello" to at the first tick (never heard from)

    def handle_datagram(self, buf, n, addr, now):
        self.got += 1
        self.pending.append((bytes(buf[0:n]), addr))
        if self.tick_at is None:
            self.tick_at = ticks_add(now, 30)

    def handle_timeout(self, now):
        if self.tick_at is not None and ticks_diff(self.tick_at, now) <= 0:
            if self.greet is not None:
                self.pending.append((b"hello", self.greet))
                self.greet = None
            self.ticks += 1
            self.tick_at = ticks_add(now, 30) if self.ticks < 5 else None
            self.pending.append((None, None))

    def poll_timeout(self):
        return self.tick_at

    def poll(self):
        if not self.pending:
            return events.NONE
        data, addr = self.pending.pop(0)
        if data is None:
            return TICK
        self.out_data = data
        self.out_addr = addr
        return events.TRANSMIT

def say(line):
    print(line)
    if hasattr(sys.stdout, "flush"):
        sys.stdout.flush()

def main():
    which, port, seconds = sys.argv[-3], int(sys.argv[-2]), int(sys.argv[-1])
    m = EchoMachine()
    seen = []
    def on_event(machine, kind):
        seen.append(kind)
    if which == "greet":  # a client speaks first; no step() runs until the test answered
        import select
        from rtc_micro.compat import ticks_ms
        from rtc_micro.drivers.poll import Driver
        d = Driver(m, "127.0.0.1", port, 1500, on_event)
        p = select.poll()
        p.register(d.udp.sock, select.POLLIN)
        m.greet = ("127.0.0.1", seconds)  # here: the test's port
        m.pending.append((b"first", m.greet))  # what an API call (a send) queued: no timer
        d.flush()
        say("ready")
        p.poll(5000)
        m.tick_at = ticks_ms()  # a timer due now (a client's first ICE check): b"hello"
        d.flush()
        p.poll(5000)
        d.run(until=lambda: m.got >= 2, timeout_ms=5000)
        d.close()
    elif which == "poll":
        from rtc_micro.drivers.poll import Driver
        d = Driver(m, "127.0.0.1", port, 1500, on_event)
        say("ready")
        d.run(until=lambda: len(seen) >= 5, timeout_ms=seconds * 1000)
        d.close()
    else:
        import asyncio
        from rtc_micro.drivers.aio import Driver
        d = Driver(m, "127.0.0.1", port, 1500, on_event)
        async def go():
            t = asyncio.create_task(d.run())
            say("ready")
            for _ in range(seconds * 50):
                if len(seen) >= 5:
                    break
                await asyncio.sleep(0.02)
            d.stop()
            await t
        asyncio.run(go())
    print("ticks", len(seen), "echoed", m.got)

main()
'''


def _free_port():
    return mpy_tree.free_port(socket.SOCK_DGRAM)


def _run(argv, driver):
    port = _free_port()
    code = "ROOT = %r\n" % ROOT + PROGRAM
    proc = subprocess.Popen(argv + ["-c", code, driver, str(port), "10"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    c.settimeout(0.2)
    try:
        assert proc.stdout.readline().strip() == "ready"
        echoed = []
        for i in range(20):
            msg = b"ping %d" % i
            c.sendto(msg, ("127.0.0.1", port))
            try:
                data, _addr = c.recvfrom(2048)
                echoed.append(data)
            except socket.timeout:
                pass
            if len(echoed) == 3:
                break
        assert echoed[:3] == [b"ping 0", b"ping 1", b"ping 2"]
        out, _ = proc.communicate(timeout=10)
        assert proc.returncode == 0, out
        assert "ticks 5 echoed 3" in out, out
    finally:
        c.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_poll_driver_cpython():
    _run([sys.executable], "poll")


def test_aio_driver_cpython():
    _run([sys.executable], "aio")


def test_poll_driver_micropython():
    _run([MICROPYTHON, "-X", "heapsize=110k"], "poll")


def test_aio_driver_micropython():
    _run([MICROPYTHON, "-X", "heapsize=110k"], "aio")


def _greet(argv):
    port = _free_port()
    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    c.bind(("127.0.0.1", 0))
    c.settimeout(3)
    code = "ROOT = %r\n" % ROOT + PROGRAM
    proc = subprocess.Popen(argv + ["-c", code, "greet", str(port), str(c.getsockname()[1])],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        addr = ("127.0.0.1", port)
        assert c.recvfrom(2048) == (b"first", addr)  # sent by flush(), before we said anything
        c.sendto(b"ok", addr)
        assert c.recvfrom(2048) == (b"ok", addr)  # flush() feeds what waits (echoed) ...
        assert c.recvfrom(2048) == (b"hello", addr)  # ... and fires the due timer
        c.sendto(b"bye", addr)
        out, _ = proc.communicate(timeout=10)
        assert proc.returncode == 0 and "echoed 2" in out, out
    finally:
        c.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_flush_sends_first_to_an_unheard_peer_cpython():
    _greet([sys.executable])


def test_flush_sends_first_to_an_unheard_peer_micropython():
    _greet([MICROPYTHON, "-X", "heapsize=110k"])


def _port_and_sender():
    """A UdpPort on loopback (its real socket) and a socket to send it datagrams from."""
    from rtc_micro.drivers.dgram import UdpPort

    port = UdpPort("127.0.0.1", mpy_tree.free_port(socket.SOCK_DGRAM), 1500)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx.bind(("127.0.0.1", 0))
    return port, port.sock, tx


class _ShortOfHeap:
    """A socket whose recvfrom has no heap for a datagram. With `peek` a small recvfrom with
    flags still works (the Unix port's); without, recvfrom takes no flags (a board's). With
    `lose`, the datagram leaves the socket before the MemoryError (the Unix port's recvfrom
    when the copy of the datagram is what fails). readinto reads as MicroPython's stream
    readinto does: datagram after datagram until `n` bytes are in or none waits (the last one
    cut short)."""

    def __init__(self, real, peek, lose=False, room=16):
        self.real = real
        self.peek = peek
        self.lose = lose
        self.room = room  # the largest recvfrom that finds heap

    def recvfrom(self, n, *flags):
        if flags and not self.peek:
            raise TypeError("function takes 2 positional arguments but 3 were given")
        if n > self.room:
            if self.lose and not flags:
                self.real.recvfrom(n)
            raise MemoryError
        return self.real.recvfrom(n, *flags)

    def readinto(self, buf, n=None):
        view = memoryview(buf)[0:len(buf) if n is None else n]
        got = 0
        while got < len(view):
            try:
                got += self.real.recv_into(view[got:])
            except BlockingIOError:
                break
        return got


def test_a_datagram_without_heap_is_read_into_the_port_buffer_not_retried():
    """MicroPython's recvfrom allocates its bytes: when that fails the datagram is read into the
    port's own buffer, taken as from the last source once one is known (else dropped), and
    counted either way, so the driver does not spin on it."""
    port, real, tx = _port_and_sender()
    port._recv_into = None
    try:
        tx.sendto(b"x" * 100, real.getsockname())
        time.sleep(0.05)
        port.sock = _ShortOfHeap(real, peek=False)
        assert port.recv() == 0 and port.rx_dropped == 1  # no source known yet: dropped
        assert not port._peek  # that recvfrom takes no flags: not asked again
        port.sock = real
        assert port.recv() == 0 and port.rx_dropped == 1  # gone, not waiting to fail again
        tx.sendto(b"a" * 10, real.getsockname())
        time.sleep(0.05)
        assert port.recv() == 10 and port.addr == tx.getsockname()
        tx.sendto(b"b" * 20, real.getsockname())
        time.sleep(0.05)
        port.sock = _ShortOfHeap(real, peek=False)
        assert port.recv() == 20 and bytes(port.buf[0:20]) == b"b" * 20
        assert port.addr == tx.getsockname() and port.rx_unaddressed == 1
        assert port.rx_dropped == 1 and port.rx_no_heap == 2
    finally:
        tx.close()
        real.close()


def test_with_msg_peek_what_a_connected_peer_sends_needs_no_heap():
    """Where recvfrom takes flags, 13 peeked bytes tell the source and, for a STUN message or a
    DTLS application-data record, the length: those are read into the port's buffer one at a
    time (not run together), without recvfrom's copy, whose failure after the datagram left the
    socket lost it (`lose`). A datagram they do not describe is peeked whole for its length;
    with no heap for that it is still in the socket and is read into the buffer, its source
    peeked."""
    port, real, tx = _port_and_sender()
    port._recv_into = None
    port.sock = _ShortOfHeap(real, peek=True, lose=True)
    try:
        record = bytes([23, 254, 253]) + bytes(8) + bytes([0, 40]) + b"r" * 40
        stun = bytes([0, 1, 0, 8]) + bytes(16) + b"s" * 8
        for d in (record, stun, record, record):
            tx.sendto(d, real.getsockname())
        time.sleep(0.05)
        for d in (record, stun, record, record):
            assert port.recv() == len(d) and bytes(port.buf[0:len(d)]) == d
            assert port.addr == tx.getsockname()
        assert port.recv() == 0 and port.rx_no_heap == 0
        hello = bytes([22, 254, 253]) + bytes(8) + bytes([0, 30]) + b"h" * 30
        tx.sendto(hello, real.getsockname())
        time.sleep(0.05)
        assert port.recv() == len(hello) and bytes(port.buf[0:len(hello)]) == hello
        assert port.addr == tx.getsockname() and port.rx_no_heap == 1
        assert port.rx_dropped == 0 and port.rx_unaddressed == 0
        assert port.recv() == 0  # read, not left waiting
        port.sock = _ShortOfHeap(real, peek=True, room=1 << 16)  # with heap: peeked whole, then
        # read by that length, one at a time
        flight = hello + hello
        for d in (flight, hello):
            tx.sendto(d, real.getsockname())
        time.sleep(0.05)
        for d in (flight, hello):
            assert port.recv() == len(d) and bytes(port.buf[0:len(d)]) == d
        assert port.rx_no_heap == 1
        tx.sendto(b"", real.getsockname())  # an empty datagram is taken off the queue
        time.sleep(0.05)
        assert port.recv() == 0 and port.recv() == 0
    finally:
        tx.close()
        real.close()
