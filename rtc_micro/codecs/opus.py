"""Opus in RTP (RFC 7587) and in Ogg files (RFC 7845 over RFC 3533 pages).

RTP: the payload is one Opus packet, the clock is 48 kHz whatever the audio bandwidth, and the
timestamp advances by the packet's duration, read from its TOC byte (RFC 6716 §3.1).
Ogg: `OggReader` yields packets from bytes or a file object read one bounded page at a time
(CRC checked); `OggWriter` writes pages with granule positions and the Ogg CRC-32
(polynomial 0x04C11DB7, not reflected: zlib's CRC-32 is a different code).
"""

import struct

import micropython

from rtc_micro.codecs import copy_into
from rtc_micro.compat import const, fast, ptr8, ptr32, uint  # noqa: F401  (viper names)
from rtc_micro.errors import ConfigError

CLOCK_RATE = const(48000)
_MAX_PACKET_SAMPLES = const(5760)  # 120 ms at 48 kHz (RFC 6716 §3.2.5)
_PAGE_HEADER = const(27)
_MAX_SEGMENTS = const(255)
_LACE = const(255)
FLAG_CONTINUED = const(1)
FLAG_BOS = const(2)
FLAG_EOS = const(4)
_SILK_SAMPLES = (480, 960, 1920, 2880)  # 10, 20, 40, 60 ms
_HYBRID_SAMPLES = (480, 960)
_CELT_SAMPLES = (120, 240, 480, 960)  # 2.5, 5, 10, 20 ms


def frame_samples(toc):
    """Samples (48 kHz) of one frame of a packet with TOC byte `toc` (RFC 6716 §3.1, Table 2)."""
    config = toc >> 3
    if config < 12:
        return _SILK_SAMPLES[config & 3]
    if config < 16:
        return _HYBRID_SAMPLES[config & 1]
    return _CELT_SAMPLES[config & 3]


def packet_samples(buf, off, n):
    """Duration of the Opus packet `buf[off:off+n]` in 48 kHz samples; 0 if malformed (§3.2).

    This is the RTP timestamp step of a sender (RFC 7587 §4.2).
    """
    if n < 1:
        return 0
    toc = buf[off]
    c = toc & 3
    if c == 0:
        frames = 1
    elif c < 3:
        frames = 2
    else:
        if n < 2:
            return 0
        frames = buf[off + 1] & 0x3F
    total = frames * frame_samples(toc)
    return total if 0 < total <= _MAX_PACKET_SAMPLES else 0


def _crc_table():
    t = bytearray(1024)
    for i in range(256):
        r = i << 24
        for _ in range(8):
            r = ((r << 1) ^ 0x04C11DB7) if r & 0x80000000 else (r << 1)
            r &= 0xFFFFFFFF
        struct.pack_into("I", t, 4 * i, r)  # native order: read back through ptr32
    return t


_CRC_TABLE = _crc_table()


@micropython.viper
def _crc_viper(crc: uint, buf: ptr8, off: int, n: int, table: ptr32) -> uint:
    for i in range(off, off + n):
        crc = ((crc << 8) ^ uint(table[((crc >> 24) ^ uint(buf[i])) & 255])) & uint(0xFFFFFFFF)
    return crc


def _crc_pure(crc, buf, off, n, table):
    for i in range(off, off + n):
        crc = ((crc << 8) & 0xFFFFFFFF) ^ struct.unpack_from(
            "I", table, 4 * (((crc >> 24) ^ buf[i]) & 255))[0]
    return crc


_crc = fast(_crc_viper, _crc_pure)


def ogg_crc(buf, off, n, crc=0):
    """Ogg CRC-32 of `buf[off:off+n]`, continuing from `crc` (RFC 3533 §6)."""
    return _crc(crc, buf, off, n, _CRC_TABLE)


class OggCounters:
    def __init__(self):
        self.bad_crc = 0  # pages dropped
        self.malformed = 0  # not a page, truncated, or a broken continuation
        self.oversize = 0  # pages or packets larger than profile.ogg_page_bytes


class OggReader:
    """Packets of one logical stream, in order (RFC 3533).

    `next_packet()` -> length n (the packet is in `packet[0:n]`) or -1 at the end; `granule` is
    the page's granule position when that packet is the last one ending on its page, else -1;
    `page_flags`, `serial` describe that page. `src` is bytes/bytearray or a file object
    (`readinto`), read one page at a time; pages and packets are bounded by
    `profile.ogg_page_bytes`.
    """

    def __init__(self, src, profile):
        size = profile.ogg_page_bytes
        self._page = bytearray(size)
        self._pv = memoryview(self._page)
        self.packet = bytearray(size)
        self._file = src if hasattr(src, "readinto") else None
        self._mem = None if self._file is not None else src
        self.counters = OggCounters()
        self._reset()

    def rewind(self):
        """Back to the first page (a file source needs `seek`): loop a clip without new buffers."""
        if self._file is not None:
            self._file.seek(0)
        self._reset()

    def _reset(self):
        self._mpos = 0
        self.granule = -1
        self.serial = 0
        self.page_flags = 0
        self._nsegs = 0
        self._seg = 0
        self._page_granule = -1
        self._pos = 0  # next data byte in the page buffer
        self._plen = 0  # bytes of the packet being assembled
        self._drop = False  # the packet being assembled is broken or too large

    def _read(self, off, n):
        if self._file is not None:
            got = self._file.readinto(self._pv[off:off + n])
            return got == n
        m = self._mem
        if self._mpos + n > len(m):
            return False
        copy_into(self._page, off, m, self._mpos, n)
        self._mpos += n
        return True

    def _load_page(self):
        p = self._page
        while True:
            if not self._read(0, _PAGE_HEADER):
                return False
            if p[0] != 0x4F or p[1] != 0x67 or p[2] != 0x67 or p[3] != 0x53 or p[4] != 0:
                self.counters.malformed += 1
                return False  # files are read in page steps: a lost sync ends the stream
            nsegs = p[26]
            if not self._read(_PAGE_HEADER, nsegs):
                return False
            size = 0
            for i in range(nsegs):
                size += p[_PAGE_HEADER + i]
            start = _PAGE_HEADER + nsegs
            if start + size > len(p):
                self.counters.oversize += 1
                if not self._skip(size):
                    return False
                self._plen = 0
                self._drop = True
                continue
            if not self._read(start, size):
                self.counters.malformed += 1
                return False
            want = p[22] | (p[23] << 8) | (p[24] << 16) | (p[25] << 24)
            p[22] = p[23] = p[24] = p[25] = 0
            if ogg_crc(p, 0, start + size) != want:
                self.counters.bad_crc += 1
                self._drop = self._plen > 0 or self._drop
                continue
            self.page_flags = p[5]
            self.serial = struct.unpack_from("<I", p, 14)[0]
            self._page_granule = struct.unpack_from("<q", p, 6)[0]
            self._nsegs = nsegs
            self._seg = 0
            self._pos = start
            if p[5] & FLAG_CONTINUED:
                if self._plen == 0 and not self._drop:
                    self._drop = True  # continues a packet we never saw the start of
            elif self._plen or self._drop:
                self.counters.malformed += 1  # the previous packet was never finished
                self._plen = 0
                self._drop = False
            return True

    def _skip(self, n):
        if self._file is None:
            self._mpos += n
            return self._mpos <= len(self._mem)
        chunk = len(self._page)
        while n > 0:
            k = n if n < chunk else chunk
            if self._file.readinto(self._pv[0:k]) != k:
                return False
            n -= k
        return True

    def next_packet(self):
        p = self._page
        while True:
            if self._seg >= self._nsegs:
                if not self._load_page():
                    return -1
                continue
            lace = p[_PAGE_HEADER + self._seg]
            self._seg += 1
            if not self._drop:
                if self._plen + lace > len(self.packet):
                    self.counters.oversize += 1
                    self._drop = True
                else:
                    copy_into(self.packet, self._plen, p, self._pos, lace)
                    self._plen += lace
            self._pos += lace
            if lace < _LACE:  # packet ends here
                n = self._plen
                dropped = self._drop
                self._plen = 0
                self._drop = False
                self.granule = self._page_granule if self._last_end() else -1
                if not dropped:
                    return n

    def _last_end(self):
        # True when no later segment on this page ends a packet (the granule belongs to us).
        p = self._page
        for i in range(self._seg, self._nsegs):
            if p[_PAGE_HEADER + i] < _LACE:
                return False
        return True


class OggWriter:
    """Writes one logical stream to a file object (`write`) in pages (RFC 3533 §6).

    `write_packet(buf, off, n, granule)` appends a packet; `flush()` ends the page (RFC 7845 puts
    OpusHead and OpusTags on pages of their own); `close()` writes the last page with EOS.
    """

    def __init__(self, f, serial, profile):
        self._f = f
        self.serial = serial
        cap = profile.ogg_page_bytes - _PAGE_HEADER - _MAX_SEGMENTS
        self._cap = cap if cap < _MAX_SEGMENTS * _LACE else _MAX_SEGMENTS * _LACE
        if self._cap < _LACE:
            raise ConfigError("profile.ogg_page_bytes too small for an Ogg page")
        self._hdr = bytearray(_PAGE_HEADER + _MAX_SEGMENTS)
        self._data = bytearray(self._cap)
        self._nsegs = 0
        self._dlen = 0
        self._granule = -1
        self._continued = False  # the page being built starts inside a packet
        self._seq = 0
        self.pages = 0

    def write_packet(self, buf, off, n, granule):
        remaining = n
        while True:
            if self._nsegs == _MAX_SEGMENTS or self._dlen + _LACE > self._cap:
                self._write_page(False, remaining != n)
            lace = remaining if remaining < _LACE else _LACE
            copy_into(self._data, self._dlen, buf, off + n - remaining, lace)
            self._hdr[_PAGE_HEADER + self._nsegs] = lace
            self._nsegs += 1
            self._dlen += lace
            remaining -= lace
            if lace < _LACE:
                self._granule = granule
                return

    def flush(self):
        if self._nsegs:
            self._write_page(False, False)

    def close(self):
        self._write_page(True, False)

    def _write_page(self, eos, next_continues):
        h = self._hdr
        h[0:4] = b"OggS"
        h[4] = 0
        h[5] = (FLAG_CONTINUED if self._continued else 0) | (FLAG_BOS if self._seq == 0 else 0) \
            | (FLAG_EOS if eos else 0)
        struct.pack_into("<qII", h, 6, self._granule, self.serial, self._seq)
        struct.pack_into("<I", h, 22, 0)
        h[26] = self._nsegs
        hl = _PAGE_HEADER + self._nsegs
        crc = ogg_crc(h, 0, hl)
        crc = ogg_crc(self._data, 0, self._dlen, crc)
        struct.pack_into("<I", h, 22, crc)
        self._f.write(memoryview(h)[0:hl])
        self._f.write(memoryview(self._data)[0:self._dlen])
        self._seq += 1
        self.pages += 1
        self._nsegs = 0
        self._dlen = 0
        self._granule = -1
        self._continued = next_continues


class OpusHead:
    """The identification header fields (RFC 7845 §5.1)."""

    def __init__(self):
        self.channels = 0
        self.pre_skip = 0
        self.input_rate = 0
        self.gain = 0  # Q7.8 dB
        self.mapping = 0


def pull_opus_head(buf, off, n, head):
    """Parse an OpusHead packet into `head`; False if it is not one (RFC 7845 §5.1)."""
    if n < 19 or bytes(buf[off:off + 8]) != b"OpusHead" or (buf[off + 8] >> 4) != 0:
        return False
    head.channels = buf[off + 9]
    head.pre_skip = buf[off + 10] | (buf[off + 11] << 8)
    head.input_rate = struct.unpack_from("<I", buf, off + 12)[0]
    g = buf[off + 16] | (buf[off + 17] << 8)
    head.gain = g - 0x10000 if g & 0x8000 else g
    head.mapping = buf[off + 18]
    return head.channels > 0 and (head.mapping != 0 or head.channels <= 2)


def opus_head(channels, pre_skip, input_rate):
    """An OpusHead packet for mapping family 0 (mono/stereo), version 1 (RFC 7845 §5.1)."""
    if channels not in (1, 2):
        raise ConfigError("mapping family 0 carries 1 or 2 channels")
    return b"OpusHead" + struct.pack("<BBHIhB", 1, channels, pre_skip, input_rate, 0, 0)


def opus_tags(vendor):
    """An OpusTags packet with a vendor string and no comments (RFC 7845 §5.2)."""
    return b"OpusTags" + struct.pack("<I", len(vendor)) + vendor + struct.pack("<I", 0)


def is_opus_tags(buf, off, n):
    return n >= 16 and bytes(buf[off:off + 8]) == b"OpusTags"
