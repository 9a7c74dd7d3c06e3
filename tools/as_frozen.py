"""Run a script on the MicroPython Unix port with a board's heap laid out as if it were frozen.

    micropython -X heapsize=H tools/as_frozen.py BOARD BUDGET SCRIPT [ARGS...]

On a board built from firmware/manifest.py the bytecode stays in flash and the heap starts in one
piece. The Unix port loads `.mpy` files into the heap instead, and its loader leaves about a
thousand small holes between the bytecode it keeps (75 KB of them, none over 3 KB, when
examples/device.py is loaded): a budget that sits in those holes has room for small objects but
for no 4 KB buffer. So this imports SCRIPT (its modules, precompiled on MICROPYPATH, and what
its `preload(profile)` imports for BOARD), fills every hole below the untouched end of the heap
with one-block objects, keeps all but BUDGET bytes of that end, and calls SCRIPT's `main(ARGS)`:
SCRIPT starts with exactly BUDGET bytes free, in one block. H comes from
`python tools/board_heap.py BOARD MPY_DIR SCRIPT`.
"""

import gc
import sys

_BIGGEST_BLOCK = 64  # a 1-tuple takes one GC block: 16 bytes on a board, 32 on x64
_LEFT = 1024  # holes left unfilled (the probe's own overhead is a few hundred bytes)
_HELD = []  # the fillers, for the life of the process


def largest_free():
    """The largest block the heap can give now (a binary search with throwaway allocations)."""
    gc.collect()
    lo = 0
    hi = gc.mem_free()
    while hi - lo > 16:
        mid = (lo + hi) // 2
        try:
            bytearray(mid)
            lo = mid
        except MemoryError:
            hi = mid
    return lo


def settle(budget):
    """Fill the holes, then hold all of the free end but `budget` bytes (in `_HELD`)."""
    fill = None
    while True:
        gc.collect()
        holes = gc.mem_free() - largest_free()
        if holes < _LEFT:
            break
        for _ in range(holes // _BIGGEST_BLOCK):  # first fit: each takes the lowest free block
            fill = (fill,)
    gc.collect()
    spare = gc.mem_free() - budget
    if spare < 0:
        raise SystemExit("as_frozen: %d bytes short of the %d-byte budget: raise -X heapsize "
                         "(tools/board_heap.py)" % (-spare, budget))
    _HELD.append(fill)
    if spare > _BIGGEST_BLOCK:
        _HELD.append(bytearray(spare - _BIGGEST_BLOCK))


def _import(script, board):
    slash = script.rfind("/")
    sys.path.insert(0, script[:slash] if slash >= 0 else ".")
    module = __import__(script[slash + 1 : -3])
    if hasattr(module, "preload"):  # what the script imports at boot for this board
        import boards

        module.preload(boards.load(board))
    return module


def main(argv):
    if len(argv) < 3:
        raise SystemExit("usage: micropython -X heapsize=H tools/as_frozen.py BOARD BUDGET SCRIPT"
                         " ...\n       micropython -X heapsize=4m tools/as_frozen.py --measure "
                         "BOARD SCRIPT")
    if argv[0] == "--measure":  # prints the heap there is, and what the imports use up of it
        total = gc.mem_free() + gc.mem_alloc()  # -X heapsize less the GC's own tables
        _import(argv[2], argv[1])
        print(total, total - largest_free())
        return
    module = _import(argv[2], argv[0])
    settle(int(argv[1]))
    module.main(argv[3:])


if __name__ == "__main__":
    main(sys.argv[1:])
