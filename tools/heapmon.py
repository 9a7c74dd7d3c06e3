"""The demo device with a heap monitor, for tools/benches/bench_session_heap_cpython.py.

    micropython -X heapsize=H tools/as_frozen.py BOARD BUDGET tools/heapmon.py SESSIONS ARGS...

Runs examples/device.py with its board's `max_sessions` set to SESSIONS and prints, every 250 ms,
`heap FREE LARGEST SESSIONS`: free bytes and the largest free block after a collection.
"""

import asyncio
import gc
import sys

sys.path.insert(0, "examples")

import boards  # noqa: E402
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
    sessions = int(argv[0])
    load = boards.load
    boards.load = lambda name: load(name).derive(max_sessions=sessions)
    asyncio.run(Monitored(device.parse_args(argv[1:])).run())
