"""Heap size that gives a MicroPython Unix-port process a board's budget "as if frozen".

On a board built from firmware/manifest.py, rtc_micro's bytecode runs from flash and the heap
(`boards.load(NAME).heap_bytes`) holds only live objects. On the Unix port, modules come from
`.mpy` files and their bytecode lands in the heap, between holes the loader leaves. So: measure
how much of the heap importing a script's modules uses up (what it keeps and the holes in it),
and add that to the board's budget. `tools/as_frozen.py` then fills those holes at run time, so
the script starts with the budget free in one block, as on the board:

    python tools/board_heap.py BOARD MPY_DIR SCRIPT   -> prints the -X heapsize= value in bytes
    micropython -X heapsize=H tools/as_frozen.py BOARD BUDGET SCRIPT ARGS...   (see `argv()`)
"""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import boards  # noqa: E402

_SLACK = 4096  # the fillers' chain; a path or argument longer than when measured
_PROBE_HEAP = 4 * 1024 * 1024


def _measure(mpy_dir, script, board):
    """(usable heap of a 4 MB -X heapsize, bytes its imports use up) under tools/as_frozen.py,
    with what the script's `preload(profile)` imports for `board`."""
    exe = os.path.join(ROOT, ".venv", "bin", "micropython")
    env = dict(os.environ, MICROPYPATH=os.path.abspath(mpy_dir) + ":.frozen")
    out = subprocess.run([exe, "-X", "heapsize=%d" % _PROBE_HEAP,
                          os.path.join(ROOT, "tools", "as_frozen.py"), "--measure", board,
                          script],
                         capture_output=True, text=True, timeout=60, cwd=ROOT, env=env)
    if out.returncode != 0:
        raise RuntimeError("measuring %s failed: %s" % (script, (out.stdout + out.stderr)[-400:]))
    usable, used = out.stdout.strip().splitlines()[-1].split()
    return int(usable), int(used)


def code_heap(mpy_dir, script, board):
    """Bytes of heap that importing `script` (its modules, precompiled in `mpy_dir`, and what its
    `preload(profile)` imports for `board`) uses up: what it keeps and the holes between (the
    loader's garbage, freed but in pieces)."""
    return _measure(mpy_dir, script, board)[1]


def heap_for(board, mpy_dir, script, budget=None):
    """The -X heapsize that leaves the board's budget (or `budget` bytes) free after `script`'s
    imports (what a frozen build keeps in flash); the GC's own tables take a share of it."""
    usable, used = _measure(mpy_dir, script, board)
    need = (budget or boards.load(board).heap_bytes) + used + _SLACK
    return (need * _PROBE_HEAP + usable - 1) // usable


def argv(board, mpy_dir, script):
    """The command that runs `script` on the MicroPython Unix port with `board`'s budget free in
    one block after its imports (add the script's own arguments; MICROPYPATH=mpy_dir:.frozen)."""
    exe = os.path.join(ROOT, ".venv", "bin", "micropython")
    return [exe, "-X", "heapsize=%d" % heap_for(board, mpy_dir, script),
            os.path.join(ROOT, "tools", "as_frozen.py"), board,
            str(boards.load(board).heap_bytes), script]


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit("usage: python tools/board_heap.py BOARD MPY_DIR SCRIPT")
    print(heap_for(sys.argv[1], sys.argv[2], sys.argv[3]))
