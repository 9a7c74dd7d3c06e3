"""Heap size that gives a MicroPython Unix-port process a board's budget "as if frozen".

On a board built from firmware/manifest.py, rtc_micro's bytecode runs from flash and the heap
(`boards.load(NAME).heap_bytes`) holds only live objects. On the Unix port, modules come from
`.mpy` files and their bytecode lands in the heap. So: measure the heap that importing a script's
modules takes, and add it to the board's budget.

    python tools/board_heap.py BOARD MPY_DIR SCRIPT   -> prints the -X heapsize= value in bytes
"""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import boards  # noqa: E402

_PROBE = """
import gc, sys
sys.path.insert(0, %(root)r)
sys.path.insert(0, %(script_dir)r)
sys.path.insert(0, %(mpy)r)
gc.collect()
before = gc.mem_alloc()
import %(module)s
if hasattr(%(module)s, "preload"):  # what the script imports at boot for this board
    import boards
    %(module)s.preload(boards.load(%(board)r))
gc.collect()
print(gc.mem_alloc() - before)
"""


def code_heap(mpy_dir, script, board):
    """Bytes of heap that importing `script` (its modules, precompiled in `mpy_dir`) takes, with
    what its `preload(profile)` imports for `board`."""
    script = os.path.abspath(script)
    probe = _PROBE % {"root": ROOT, "script_dir": os.path.dirname(script),
                      "mpy": os.path.abspath(mpy_dir),
                      "module": os.path.basename(script)[:-3], "board": board}
    exe = os.path.join(ROOT, ".venv", "bin", "micropython")
    out = subprocess.run([exe, "-X", "heapsize=4m", "-c", probe], capture_output=True,
                         text=True, timeout=60, cwd=ROOT)
    if out.returncode != 0:
        raise RuntimeError("measuring %s failed: %s" % (script, (out.stdout + out.stderr)[-400:]))
    return int(out.stdout.strip().splitlines()[-1])


def heap_for(board, mpy_dir, script):
    """The board's heap budget plus the bytecode a frozen build would keep out of the heap."""
    return boards.load(board).heap_bytes + code_heap(mpy_dir, script, board)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit("usage: python tools/board_heap.py BOARD MPY_DIR SCRIPT")
    print(heap_for(sys.argv[1], sys.argv[2], sys.argv[3]))
