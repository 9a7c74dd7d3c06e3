"""The demo device's heap, session by session, on the MicroPython Unix port (CPython drives it).

For each board: the device (tools/heapmon.py: examples/device.py plus a heap monitor) starts
"as if frozen" with the board's budget free in one block (tools/as_frozen.py); aiortc clients
connect (all of them at once), each echoes a 4 KiB text and a 4 KiB binary message, they hang up
with DELETE, then 6 more sessions follow one after another. Prints the free heap and largest free
block at boot, with the sessions open and after each one. Then, for two sessions at once, the
smallest budget (in 10 KB steps) at which that whole run passes twice in a row. Figures go to
docs/memory.md; modules from build/mpy (tools/bench builds them) or $RTC_MICRO_MPY.
"""

import asyncio
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tools"))
sys.path.insert(0, os.path.join(ROOT, "examples"))

import board_heap  # noqa: E402
from whep_client import WhepClient, gather_on_loopback  # noqa: E402

from host_tests.cpython.mpy_tree import free_port  # noqa: E402

MPY = os.environ.get("RTC_MICRO_MPY", os.path.join(ROOT, "build", "mpy"))
AFTER = 6  # sessions one after another
_STEP = 10 * 1024


class Device:
    """tools/heapmon.py under tools/as_frozen.py, its `heap` lines collected."""

    def __init__(self, board, sessions, budget):
        self.port = free_port()
        heap = board_heap.heap_for(board, MPY, "tools/heapmon.py", budget)
        self.proc = subprocess.Popen(
            [os.path.join(ROOT, ".venv", "bin", "micropython"), "-X", "heapsize=%d" % heap,
             "tools/as_frozen.py", board, str(budget), "tools/heapmon.py",
             "--sessions", str(sessions), "--board", board, "--port", str(self.port)],
            cwd=ROOT, env=dict(os.environ, MICROPYPATH=MPY + ":.frozen"),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.samples = []  # (free, largest, sessions)
        self.tail = []
        loop = asyncio.get_running_loop()
        self.reader = loop.run_in_executor(None, self._read)

    def _read(self):
        for line in self.proc.stdout:
            f = line.split()
            if f and f[0] == "heap":
                self.samples.append((int(f[1]), int(f[2]), int(f[3])))
            else:
                self.tail = (self.tail + [line.rstrip()])[-5:]

    async def settle(self, sessions):
        """The first sample, 0.3 s from now, with `sessions` open."""
        n = len(self.samples)
        end = time.monotonic() + 5
        while time.monotonic() < end:
            await asyncio.sleep(0.3)
            for s in self.samples[n:]:
                if s[2] == sessions:
                    return s
        raise AssertionError("device stuck: %s" % self.tail)

    def stop(self):
        self.proc.kill()
        self.proc.wait()


async def _session(port):
    c = WhepClient("127.0.0.1", port)
    c.echo = c.channel("echo")
    await c.connect()
    await asyncio.wait_for(c.echo.opened.wait(), 15)
    for msg in ("x" * 4096, bytes(range(256)) * 16):
        c.echo.send(msg)
        assert await asyncio.wait_for(c.echo.inbox.get(), 15) == msg
    return c


async def _end(c):
    assert await c.delete() == 200
    await c.pc.close()


async def run(board, sessions, budget):
    """Heap samples of one run: boot, all sessions open, after each of AFTER in a row."""
    dev = Device(board, sessions, budget)
    try:
        boot = await dev.settle(0)
        clients = []
        for _ in range(sessions):
            clients.append(await _session(dev.port))
        together = await dev.settle(sessions)
        for c in clients:
            await _end(c)
        after = []
        for _ in range(AFTER):
            await dev.settle(0)
            c = await _session(dev.port)
            await _end(c)
            after.append(await dev.settle(0))
        return boot, together, after
    finally:
        dev.stop()


def _kb(n):
    return "%.1f KB" % (n / 1024)


async def main():
    gather_on_loopback()
    for board in ("esp32", "picow"):
        budget = board_heap.boards.load(board).heap_bytes
        try:
            boot, one, after = await run(board, 1, budget)
            print("%s, %s budget: free (largest block) at boot %s (%s), one session open %s "
                  "(%s), after each of %d sessions in a row %s" % (
                      board, _kb(budget), _kb(boot[0]), _kb(boot[1]), _kb(one[0]), _kb(one[1]),
                      AFTER, ", ".join(_kb(s[0]) for s in after)))
        except Exception as e:  # noqa: BLE001 a figure, not a test: say what happened
            print("%s, %s budget: one session at a time FAILED (%r)" % (board, _kb(budget), e))
        passes = 0
        while passes < 2 and budget < board_heap.boards.load(board).heap_bytes + 12 * _STEP:
            try:
                await run(board, 2, budget)
                passes += 1
            except Exception:  # noqa: BLE001 too small: the next step
                passes = 0
                budget += _STEP
        print("%s: two sessions at once, then %d in a row, passed twice with a %s budget" % (
            board, AFTER, _kb(budget)) if passes == 2 else
              "%s: two sessions at once did not pass below %s" % (board, _kb(budget)))


if __name__ == "__main__":
    asyncio.run(main())
