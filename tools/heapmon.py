"""The demo device with a heap monitor, for tools/benches/bench_session_heap_cpython.py.

    micropython -X heapsize=H tools/as_frozen.py BOARD BUDGET tools/heapmon.py DEVICE_ARGS...

Runs examples/device.py (with its arguments: `--board`, `--sessions`, ...) and prints, every
250 ms, `heap FREE LARGEST SESSIONS`: free bytes and the largest free block after a collection.
"""

import asyncio
import gc
import sys

sys.path.insert(0, "examples")

import device  # noqa: E402
from as_frozen import largest_free  # noqa: E402

preload = device.preload  # tools/as_frozen.py imports what the board's sessions use, before it


class Monitored(device.Device):
    async def run(self):
        asyncio.create_task(self.monitor())
        await device.Device.run(self)

    async def monitor(self):
        while True:
            gc.collect()
            print("heap %d %d %d" % (gc.mem_free(), largest_free(), len(self.sessions)))
            await asyncio.sleep(0.25)


def main(argv):
    asyncio.run(Monitored(device.parse_args(argv)).run())
