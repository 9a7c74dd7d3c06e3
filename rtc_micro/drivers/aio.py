"""asyncio driver: one PeerConnection-like machine on one UDP socket, as an asyncio task.

The same code runs on MicroPython's asyncio and CPython's. The machine is sans-I/O with a single
drain (`poll()` -> kind; `TRANSMIT` puts the datagram in `out_data` for `out_addr`), plus
`handle_datagram(buf, n, addr, now)`, `handle_timeout(now)` and `poll_timeout()`.

    drv = Driver(pc, "0.0.0.0", 5000, profile.rx_buffer, on_event)
    asyncio.create_task(drv.run())
    ...; pc.send(...); drv.flush()     # after an API call from another task: drain at once

The loop sleeps until the socket is readable or the machine's deadline, but at most
`max_wait_ms`, so a deadline moved by an API call from another task is honoured late by at most
that much (call `flush()` after such calls so their datagrams leave at once).
"""

import asyncio

from rtc_micro.compat import MICROPYTHON, ticks_diff, ticks_ms
from rtc_micro.drivers.dgram import UdpPort, drain, pump

_MAX_WAIT_MS = 50


if MICROPYTHON:

    def _readable(sock):
        # What asyncio's own Stream.read does: park this task in the loop's poller.
        yield asyncio.core._io_queue.queue_read(sock)


class Driver:
    """Runs `machine` on a UDP socket bound to `host:port`; `on_event(machine, kind)` gets
    every event other than TRANSMIT, with the details still in the machine's attributes."""

    def __init__(self, machine, host, port, rx_size, on_event=None, max_wait_ms=_MAX_WAIT_MS):
        self.machine = machine
        self.udp = UdpPort(host, port, rx_size)
        self.on_event = on_event
        self.max_wait_ms = max_wait_ms
        self.running = False
        self.memory_errors = 0
        self._ready = None  # CPython: an asyncio.Event set by the loop's reader callback

    def flush(self):
        """Drain the machine now (after an API call made outside the driver's task)."""
        drain(self.machine, self.udp, self.on_event)

    def stop(self):
        """Ask `run()` to return (within `max_wait_ms`); it closes the socket."""
        self.running = False

    async def run(self):
        self.running = True
        if not MICROPYTHON:
            loop = asyncio.get_running_loop()
            self._ready = asyncio.Event()
            loop.add_reader(self.udp.sock.fileno(), self._ready.set)
        try:
            while self.running:
                if self._ready is not None:
                    self._ready.clear()  # pump() reads everything waiting
                try:
                    at = pump(self.machine, self.udp, self.on_event)
                except MemoryError:  # a full heap must cost a datagram, not the session
                    self.memory_errors += 1
                    at = None
                wait = self.max_wait_ms
                if at is not None:
                    wait = max(0, min(wait, ticks_diff(at, ticks_ms())))
                await self._wait(wait)
        finally:
            if not MICROPYTHON:
                loop.remove_reader(self.udp.sock.fileno())
            self.udp.close()

    async def _wait(self, ms):
        """Until the socket is readable or `ms` milliseconds have passed."""
        if ms <= 0:
            await asyncio.sleep(0)
            return
        try:
            if MICROPYTHON:
                await asyncio.wait_for_ms(_readable(self.udp.sock), ms)
            else:
                await asyncio.wait_for(self._ready.wait(), ms / 1000)
        except asyncio.TimeoutError:
            pass
