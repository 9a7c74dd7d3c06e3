"""Blocking driver: one PeerConnection-like machine on one UDP socket, with `select.poll`.

For programs without asyncio (a board's main loop). Same machine contract as `drivers/aio.py`:
`poll()` -> kind (TRANSMIT: `out_data` to `out_addr`), `handle_datagram`, `handle_timeout`,
`poll_timeout`.

    drv = Driver(pc, "0.0.0.0", 5000, profile.rx_buffer, on_event)
    while True:
        drv.step(100)        # at most 100 ms, less when a timer is due
"""

import select

from rtc_micro.compat import ticks_add, ticks_diff, ticks_ms
from rtc_micro.drivers.dgram import UdpPort, pump


class Driver:
    """Runs `machine` on a UDP socket bound to `host:port`; `on_event(machine, kind)` gets
    every event other than TRANSMIT. `rx`: the receive buffer's size, or a bytearray shared
    with other drivers (UdpPort)."""

    def __init__(self, machine, host, port, rx, on_event=None):
        self.machine = machine
        self.udp = UdpPort(host, port, rx)
        self.on_event = on_event
        self.memory_errors = 0
        self._poller = select.poll()
        self._poller.register(self.udp.sock, select.POLLIN)
        # ipoll() reuses its result tuple (no allocation per wait); plain poll() elsewhere.
        self._wait = getattr(self._poller, "ipoll", self._poller.poll)

    def flush(self):
        """Feed waiting datagrams, fire due timers and drain the machine now (after an API call
        such as a channel send or set_remote_description)."""
        pump(self.machine, self.udp, self.on_event)

    def step(self, max_wait_ms):
        """Feed waiting datagrams and due timers, then block until the socket is readable, the
        machine's deadline or `max_wait_ms`, whichever comes first."""
        try:
            at = pump(self.machine, self.udp, self.on_event)
        except MemoryError:  # a full heap must cost a datagram, not the session
            self.memory_errors += 1
            at = None
        wait = max_wait_ms
        if at is not None:
            wait = max(0, min(wait, ticks_diff(at, ticks_ms())))
        self._wait(wait)
        pump(self.machine, self.udp, self.on_event)

    def run(self, until=None, timeout_ms=None, max_wait_ms=100):
        """Step until `until()` is true (True) or `timeout_ms` has passed (False)."""
        end = None if timeout_ms is None else ticks_add(ticks_ms(), timeout_ms)
        while until is None or not until():
            if end is not None and ticks_diff(end, ticks_ms()) <= 0:
                return False
            self.step(max_wait_ms)
        return True

    def close(self):
        self.udp.close()
