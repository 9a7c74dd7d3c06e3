"""Byte moves shared by protocols and codecs: `@viper` on MicroPython, a pure twin on CPython."""

import micropython

from rtc_micro.compat import fast, ptr8


@micropython.viper
def _copy_viper(dst: ptr8, dst_off: int, src: ptr8, src_off: int, n: int):
    if dst_off <= src_off:
        for i in range(n):
            dst[dst_off + i] = src[src_off + i]
    else:  # overlapping move to the right: copy backwards
        i = n - 1
        while i >= 0:
            dst[dst_off + i] = src[src_off + i]
            i -= 1


def _copy_pure(dst, dst_off, src, src_off, n):
    if dst is src or (type(src) is memoryview and src.obj is dst):  # may overlap: copy first
        src = bytes(memoryview(src)[src_off:src_off + n])
        src_off = 0
    dst[dst_off:dst_off + n] = memoryview(src)[src_off:src_off + n]


# copy_into(dst, dst_off, src, src_off, n): dst[dst_off:dst_off+n] = src[src_off:src_off+n]
# without a slice object on MicroPython (overlapping moves inside one buffer are safe).
copy_into = fast(_copy_viper, _copy_pure)


class Buffers:
    """A session slot's large buffers, made once and reused by each session on that slot.

    Machines take their buffers by name (`take(name, n)`): the first take makes the bytearray,
    later ones (the next session on the slot) get the same one back, so sessions that come and
    go leave no holes in a board's heap. A device makes one `Buffers` per session slot at boot,
    while the heap is in one piece, and `reserve()`s them at once (`PeerConnection.reserve`).
    `shared` is one `Buffers` for every slot: scratch a machine fills and its caller drains
    before any other session runs (one asyncio loop: each driver drains before it yields).
    `Buffers()` alone shares with itself; `None` where a machine takes `mem` means fresh buffers.
    A slot serves one session at a time: release() the last one before the next one starts.
    """

    def __init__(self, shared=None):
        self.shared = self if shared is None else shared
        self._bufs = {}
        self._tables = {}  # name -> list (table)
        self._held = {}  # name -> the machine using a leased buffer set (lease/give_back)
        self._machines = {}  # class -> [the instance the slot's last session used, its fields]

    def take(self, name, n):
        """The bytearray `name` of `n` bytes (made at the first take; contents are stale)."""
        b = self._bufs.get(name)
        if b is None or len(b) != n:
            b = bytearray(n)
            self._bufs[name] = b
        return b

    def table(self, name, n, fill=0):
        """The list `name` of `n` entries, every one `fill`: made at the first call, filled
        again in place at the next session's (a machine's per-chunk and event rings would
        otherwise be made anew each session, among that session's other objects)."""
        t = self._tables.get(name)
        if t is None or len(t) != n:
            t = [fill] * n
            self._tables[name] = t
        else:
            for i in range(n):
                t[i] = fill
        return t

    def lease(self, name, holder):
        """True, and `holder` has the buffers under `name` until `give_back`, when nobody else
        has them (a second handshake meanwhile makes its own)."""
        h = self._held.get(name)
        if h is not None and h is not holder:
            return False
        self._held[name] = holder
        return True

    def give_back(self, name, holder):
        if self._held.get(name) is holder:
            self._held[name] = None

    def renew(self, cls, *args, **kw):
        """`cls(*args, **kw)`, but the instance the slot's last session used is initialised again
        when there is one: its attribute table (1-2 KB for a machine) is not made anew.
        `retire()` clears its fields."""
        return self._again(cls, True, args, kw)

    def reuse(self, cls, *args, **kw):
        """`renew`, for an object that stays usable after its session ended (a PeerConnection,
        its ICE agent: late datagrams and stats are still answered): `retire()` leaves it as
        it is until the slot's next session initialises it again."""
        return self._again(cls, False, args, kw)

    def _again(self, cls, clear, args, kw):
        had = self._machines.get(cls)
        if had is None:
            m = cls(*args, **kw)
            # Field names read once: each read of __dict__ copies the attribute table.
            self._machines[cls] = [m, list(m.__dict__) if clear else ()]
            return m
        had[0].__init__(*args, **kw)
        return had[0]

    def retire(self):
        """The slot's session has ended: let its machines hold nothing (keys, lists, the peer's
        certificate) until `renew` initialises them for the next one, nor any shared lease."""
        held = self.shared._held
        for m, names in self._machines.values():
            for name in names:
                setattr(m, name, None)
            for name in held:  # what it leased and did not give back (a session cut short)
                if held[name] is m:
                    held[name] = None

    def total(self):
        """Bytes held (for docs/memory.md and telemetry)."""
        n = 0
        for b in self._bufs.values():
            n += len(b)
        return n


def renew(slot, cls, *args, **kw):
    """`slot.renew(cls, ...)`, or a new `cls(...)` when `slot` (a Buffers) is None."""
    if slot is None:
        return cls(*args, **kw)
    return slot.renew(cls, *args, **kw)
