"""asyncio driver: one PeerConnection-like machine on one UDP socket, as an asyncio task.

Runs on MicroPython's asyncio and CPython's. The machine is sans-I/O with a single drain
(`poll()` -> kind; `TRANSMIT` puts the datagram in `out_data` for `out_addr`), plus
`handle_datagram(buf, n, addr, now)`, `handle_timeout(now)` and `poll_timeout()`.

    drv = Driver(pc, "0.0.0.0", 5000, profile.rx_buffer, on_event)
    asyncio.create_task(drv.run())
    ...; pc.send(...); drv.flush()     # after an API call from another task: drain at once

On MicroPython the task sleeps until the socket is readable or the machine's deadline, but at
most `max_wait_ms`, so a deadline moved by an API call from another task is honoured late by at
most that much. On CPython the loop's reader callback and a timer at the deadline pump the
machine directly (no task switch per datagram: ~0.1-0.2 ms less per hop), re-armed after every
pump. Either way, call `flush()` after API calls (`set_remote_description`, `send`, ...): it
runs what is due now (a client's first ICE check, say) and sends the datagrams at once.
"""

import asyncio

from rtc_micro.compat import MICROPYTHON, ticks_diff, ticks_ms
from rtc_micro.drivers.dgram import UdpPort, pump

_MAX_WAIT_MS = 50


if MICROPYTHON:

    def _readable(sock):
        # What asyncio's own Stream.read does: park this task in the loop's poller.
        yield asyncio.core._io_queue.queue_read(sock)


class Driver:
    """Runs `machine` on a UDP socket bound to `host:port`; `on_event(machine, kind)` gets
    every event other than TRANSMIT, with the details still in the machine's attributes. `rx`:
    the receive buffer's size, or a bytearray shared with the loop's other drivers (UdpPort)."""

    def __init__(self, machine, host, port, rx, on_event=None, max_wait_ms=_MAX_WAIT_MS):
        self.machine = machine
        self.udp = UdpPort(host, port, rx)
        self.on_event = on_event
        self.max_wait_ms = max_wait_ms
        self.running = False
        self.memory_errors = 0
        self._loop = None  # CPython: the loop whose callbacks pump the machine
        self._timer = None  # CPython: the handle of the call at the machine's deadline
        self._done = None  # CPython: the future run() waits on

    def flush(self):
        """Feed waiting datagrams, fire due timers and drain the machine now (after an API call
        made outside the driver's task)."""
        if self._loop is not None:
            self._pump()  # also re-arms the deadline timer
        else:
            pump(self.machine, self.udp, self.on_event)

    def stop(self):
        """Ask `run()` to return (on MicroPython within `max_wait_ms`); it closes the socket."""
        self.running = False
        if self._done is not None and not self._done.done():
            self._done.set_result(None)

    async def run(self):
        self.running = True
        try:
            if MICROPYTHON:
                await self._run_task()
            else:
                await self._run_callbacks()
        finally:
            self.udp.close()

    def _step(self):
        """One pump; the machine's next deadline (None when none)."""
        try:
            return pump(self.machine, self.udp, self.on_event)
        except MemoryError:  # a full heap must cost a datagram, not the session
            self.memory_errors += 1
            return None

    async def _run_task(self):
        while self.running:
            at = self._step()
            wait = self.max_wait_ms
            if at is not None:
                wait = max(0, min(wait, ticks_diff(at, ticks_ms())))
            if wait <= 0:
                await asyncio.sleep(0)
                continue
            try:  # until the socket is readable or `wait` ms have passed
                await asyncio.wait_for_ms(_readable(self.udp.sock), wait)
            except asyncio.TimeoutError:
                pass

    async def _run_callbacks(self):
        loop = asyncio.get_running_loop()
        fd = self.udp.sock.fileno()
        self._loop = loop
        self._done = loop.create_future()
        loop.add_reader(fd, self._pump)
        try:
            self._pump()
            if self.running:
                await self._done
        finally:
            loop.remove_reader(fd)
            if self._timer is not None:
                self._timer.cancel()
            self._loop = None

    def _pump(self):
        """CPython: pump from a loop callback, then arm a timer at the machine's deadline."""
        if not self.running:
            return
        try:
            at = self._step()
        except Exception as e:  # noqa: BLE001 end run() with it, as an exception in a task would
            if not self._done.done():
                self._done.set_exception(e)
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if at is not None and self.running:
            delay = max(0, ticks_diff(at, ticks_ms()))
            self._timer = self._loop.call_later(delay / 1000, self._pump)
