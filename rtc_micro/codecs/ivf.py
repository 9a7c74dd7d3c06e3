"""IVF files (the simple VP8/VP9/AV1 container of libvpx): a 32-byte file header, then frames each
behind a 12-byte header (size, 64-bit timestamp), all little-endian."""

import struct

from rtc_micro.compat import const
from rtc_micro.errors import ConfigError

FILE_HEADER = const(32)
FRAME_HEADER = const(12)


class IvfReader:
    """`IvfReader(f, profile)` reads the header (`fourcc`, `width`, `height`, `rate`, `scale`,
    `frames`); `next_frame()` -> n with the frame in `frame[0:n]` and `pts` set, or -1 at the
    end. Frames larger than profile.video_frame_bytes are skipped and counted in `oversize`."""

    def __init__(self, f, profile):
        self._f = f
        self.frame = bytearray(profile.video_frame_bytes)
        self._mv = memoryview(self.frame)
        self._hdr = bytearray(FILE_HEADER)
        self.oversize = 0
        self.pts = 0
        if f.readinto(self._hdr) != FILE_HEADER or self._hdr[0:4] != b"DKIF":
            raise ConfigError("not an IVF file (no DKIF signature)")
        (_, hlen, fourcc, self.width, self.height, self.rate, self.scale,
         self.frames) = struct.unpack_from("<HH4sHHIII", self._hdr, 4)
        self.fourcc = bytes(fourcc)
        if hlen > FILE_HEADER:
            self._skip(hlen - FILE_HEADER)

    def _skip(self, n):
        while n > 0:
            k = n if n < len(self.frame) else len(self.frame)
            if self._f.readinto(self._mv[0:k]) != k:
                return False
            n -= k
        return True

    def next_frame(self):
        h = self._hdr
        while True:
            if self._f.readinto(memoryview(h)[0:FRAME_HEADER]) != FRAME_HEADER:
                return -1
            size, self.pts = struct.unpack_from("<Iq", h, 0)
            if size > len(self.frame):
                self.oversize += 1
                if not self._skip(size):
                    return -1
                continue
            if self._f.readinto(self._mv[0:size]) != size:
                return -1
            return size


class IvfWriter:
    """`IvfWriter(f, fourcc, width, height, rate, scale)`; `write_frame(buf, off, n, pts)`;
    `close()` rewrites the frame count when the file can seek."""

    def __init__(self, f, fourcc, width, height, rate, scale=1):
        self._f = f
        self.frames = 0
        self._args = (fourcc, width, height, rate, scale)
        self._hdr = bytearray(FILE_HEADER)
        self._write_header()
        self._fh = bytearray(FRAME_HEADER)

    def _write_header(self):
        fourcc, width, height, rate, scale = self._args
        struct.pack_into("<4sHH4sHHIII", self._hdr, 0, b"DKIF", 0, FILE_HEADER, fourcc, width,
                         height, rate, scale, self.frames)
        self._f.write(self._hdr)

    def write_frame(self, buf, off, n, pts):
        struct.pack_into("<Iq", self._fh, 0, n, pts)
        self._f.write(self._fh)
        self._f.write(memoryview(buf)[off:off + n])
        self.frames += 1

    def close(self):
        if hasattr(self._f, "seek"):
            end = self._f.tell()
            self._f.seek(0)
            self._write_header()
            self._f.seek(end)
