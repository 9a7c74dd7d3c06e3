"""SRTP and SRTCP (RFC 3711) with AES_CM_128_HMAC_SHA1_80 and AEAD_AES_128_GCM (RFC 7714).

`SrtpSession` protects or unprotects packets in place in the caller's buffer, one session per
direction (DTLS-SRTP gives each side its own write key). Per-SSRC state (rollover counter,
highest sequence number, 128-packet replay windows, SRTCP index), bounded by the board profile
(`srtp_max_ssrcs`), lives in an SSRC table with two twins chosen once: `_ByteTable` on
MicroPython (one preallocated bytearray, 32-bit arithmetic in viper `uint`, allocation-free) and
`_IntTable` on CPython (Python ints in a dict). See docs/srtp.md.
"""

import micropython

from rtc_micro.compat import const, fast, ptr8, uint
from rtc_micro.crypto.aes import Aes128, AesGcm
from rtc_micro.crypto.hmac import HmacSha1
from rtc_micro.errors import BufferTooSmall, ConfigError, StateError

# DTLS-SRTP protection profiles (RFC 5764 §4.1.2, RFC 7714 §14.2).
PROFILE_AES128_CM_SHA1_80 = const(0x0001)
PROFILE_AEAD_AES_128_GCM = const(0x0007)

_KEY_LEN = const(16)
_CM_SALT = const(14)  # RFC 3711 §8.2
_GCM_SALT = const(12)  # RFC 7714 §12
_AUTH_KEY = const(20)
_CM_TAG = const(10)  # HMAC-SHA1-80
_GCM_TAG = const(16)
_TRAILER = const(4)  # SRTCP E flag + 31-bit index
_ROC_LEN = const(4)
_RTP_MIN = const(12)
_RTP_SSRC = const(8)  # offset of the SSRC in an RTP header; 4 in RTCP (the sender's)
_RTCP_SSRC = const(4)
_RTCP_MIN = const(8)
_SEQ_HALF = const(0x8000)
_SEQ_MOD = const(0x10000)
_DELTA_CLAMP = const(0x10000)  # SRTCP index distances saturate here: results stay small ints

# One row of the SSRC table. The 6 bytes before each window hold the highest index it has seen:
# ROC||SEQ for SRTP, 00 00||index for SRTCP, the same layout `_make_iv` reads from the scratch.
_R_USED = const(4)  # after the 4-byte SSRC
_R_ROC = const(6)
_R_WIN = const(12)  # 16 bytes = 128 packets; bit k of byte k>>3 = highest index minus k
_R_RTCP_IDX = const(30)
_R_RTCP_WIN = const(34)
_ROW = const(50)
_WINDOW = const(128)
_WIN_BYTES = const(16)
_HIGHEST = const(6)  # bytes of highest index in front of each window
_REPLAYED = const(-0x40000)  # recv_* for a replayed or too old packet (real deltas > -_WINDOW)
# _IntTable only (CPython): not small ints on a board.
_MAX_RTCP_INDEX = 0x7FFFFFFF  # 31 bits (RFC 3711 §3.4); the top bit is the E flag
_INDEX_MASK = (1 << 48) - 1
_WIN_MASK = (1 << _WINDOW) - 1

# Scratch layout: SSRC(4) || 6-byte index, as XORed into the IV (RFC 3711 §4.1.1, RFC 7714 §8.1).
_ST_INDEX = const(4)
_ST_RTCP_IDX = const(6)
_ST_LEN = const(10)
_CM_IV = const(16)
_SHA1_LEN = const(20)
_CM_IV_POS = const(4)  # SSRC sits at byte 4 of the 16-byte AES-CM counter
_GCM_IV_POS = const(2)  # ... and at byte 2 of the 12-byte GCM nonce

_LABEL_RTP_KEY = const(0)  # RFC 3711 §4.3.2
_LABEL_RTP_AUTH = const(1)
_LABEL_RTP_SALT = const(2)
_LABEL_RTCP_KEY = const(3)
_LABEL_RTCP_AUTH = const(4)
_LABEL_RTCP_SALT = const(5)


def _prf(aes, salt, label, n):
    """AES-CM PRF with kdr=0 (RFC 3711 §4.3.1, §4.3.3): `n` bytes of session key `label`."""
    ctr = bytearray(16)
    ctr[0 : len(salt)] = salt  # a 12-byte GCM master salt is padded with zeros (RFC 7714 §11)
    ctr[7] ^= label
    out = bytearray(n)
    aes.ctr_xor(ctr, out, 0, n)
    return bytes(out)


def derive_keys(profile_id, master_key, master_salt):
    """Session keys, kdr=0 (RFC 3711 §4.3.1, RFC 7714 §11) as a 6-tuple:
    (rtp_key, rtp_auth, rtp_salt, rtcp_key, rtcp_auth, rtcp_salt); auth keys are None for GCM.
    """
    salt_len = _salt_len(profile_id)
    if len(master_key) != _KEY_LEN or len(master_salt) != salt_len:
        raise ConfigError(
            "SRTP profile 0x%04x needs a %d-byte master key and a %d-byte master salt"
            % (profile_id, _KEY_LEN, salt_len)
        )
    aes = Aes128(master_key)
    gcm = profile_id == PROFILE_AEAD_AES_128_GCM
    return (
        _prf(aes, master_salt, _LABEL_RTP_KEY, _KEY_LEN),
        None if gcm else _prf(aes, master_salt, _LABEL_RTP_AUTH, _AUTH_KEY),
        _prf(aes, master_salt, _LABEL_RTP_SALT, salt_len),
        _prf(aes, master_salt, _LABEL_RTCP_KEY, _KEY_LEN),
        None if gcm else _prf(aes, master_salt, _LABEL_RTCP_AUTH, _AUTH_KEY),
        _prf(aes, master_salt, _LABEL_RTCP_SALT, salt_len),
    )


def _salt_len(profile_id):
    if profile_id == PROFILE_AES128_CM_SHA1_80:
        return _CM_SALT
    if profile_id == PROFILE_AEAD_AES_128_GCM:
        return _GCM_SALT
    raise ConfigError(
        "SRTP profile 0x%04x is not supported: use 0x0001 (AES_CM_128_HMAC_SHA1_80) "
        "or 0x0007 (AEAD_AES_128_GCM)" % profile_id
    )


def overhead(profile_id):
    """Bytes protect_rtp adds (the tag); protect_rtcp adds 4 more (E flag + index)."""
    return _GCM_TAG if profile_id == PROFILE_AEAD_AES_128_GCM else _CM_TAG


def rtp_header_len(buf, n):
    """Length of the RTP header of `buf[0:n]` with CSRCs and extension (RFC 3550 §5.1), or -1."""
    if n < _RTP_MIN:
        return -1
    b0 = buf[0]
    if b0 & 0xC0 != 0x80:
        return -1
    h = _RTP_MIN + ((b0 & 0x0F) << 2)
    if b0 & 0x10:
        if h + 4 > n:
            return -1
        h += 4 + (((buf[h + 2] << 8) | buf[h + 3]) << 2)
    return h if h <= n else -1


# Byte helpers: viper on MicroPython, pure twins on CPython (chosen once below).


@micropython.viper
def _copy_viper(dst: ptr8, doff: int, src: ptr8, soff: int, n: int):
    for i in range(n):
        dst[doff + i] = src[soff + i]


def _copy_pure(dst, doff, src, soff, n):
    dst[doff : doff + n] = src[soff : soff + n]


@micropython.viper
def _diff_viper(a: ptr8, aoff: int, b: ptr8, boff: int, n: int) -> int:
    d = 0
    for i in range(n):
        d |= a[aoff + i] ^ b[boff + i]
    return d


def _diff_pure(a, aoff, b, boff, n):
    # No early exit: the time taken does not tell how many tag bytes matched.
    return int.from_bytes(a[aoff : aoff + n], "big") ^ int.from_bytes(b[boff : boff + n], "big")


_copy = fast(_copy_viper, _copy_pure)
_diff = fast(_diff_viper, _diff_pure)

# The byte table's arithmetic, in viper only: its pure twin is the whole `_IntTable`, which
# test_srtp.py runs against it on MicroPython.


@micropython.viper
def _find(tbl: ptr8, end: int, pkt: ptr8, off: int, st: ptr8) -> int:
    a = pkt[off]
    b = pkt[off + 1]
    c = pkt[off + 2]
    d = pkt[off + 3]
    st[0] = a
    st[1] = b
    st[2] = c
    st[3] = d
    r = 0
    while r < end:
        if tbl[r + _R_USED] and tbl[r] == a and tbl[r + 1] == b and tbl[r + 2] == c:
            if tbl[r + 3] == d:
                return r
        r += _ROW
    return -1


@micropython.viper
def _estimate(tbl: ptr8, row: int, seq: int, st: ptr8) -> int:
    o = row + _R_ROC
    roc = uint((tbl[o] << 24) | (tbl[o + 1] << 16) | (tbl[o + 2] << 8) | tbl[o + 3])
    s_l = (tbl[o + 4] << 8) | tbl[o + 5]
    delta = seq - s_l
    if s_l < _SEQ_HALF:
        # libsrtp never guesses ROC-1 while the ROC is 0 (it would wrap to 2**32-1).
        if delta > _SEQ_HALF and roc != uint(0):
            roc -= uint(1)
            delta -= _SEQ_MOD
    elif s_l - _SEQ_HALF > seq:
        roc += uint(1)
        delta += _SEQ_MOD
    st[4] = roc >> 24
    st[5] = roc >> 16
    st[6] = roc >> 8
    st[7] = roc
    st[8] = seq >> 8
    st[9] = seq
    return delta


@micropython.viper
def _commit(tbl: ptr8, woff: int, delta: int, st: ptr8):
    if delta <= 0:
        age = 0 - delta
        tbl[woff + (age >> 3)] |= 1 << (age & 7)
        return
    for i in range(_HIGHEST):
        tbl[woff - _HIGHEST + i] = st[_ST_INDEX + i]
    q = delta >> 3
    r = delta & 7
    j = _WIN_BYTES - 1
    while j >= 0:  # downwards: each byte reads only bytes not yet rewritten
        s = j - q
        v = 0
        if s >= 0:
            v = tbl[woff + s] << r
            if s >= 1 and r:
                v |= tbl[woff + s - 1] >> (8 - r)
        tbl[woff + j] = v
        j -= 1
    tbl[woff] |= 1


@micropython.viper
def _make_iv(iv: ptr8, salt: ptr8, st: ptr8, pos: int):
    for i in range(pos + pos + 8):  # 16 bytes when pos is 4 (AES-CM), 12 when 2 (GCM)
        iv[i] = salt[i]
    for i in range(_ST_LEN):
        iv[pos + i] ^= st[i]


@micropython.viper
def _rtcp_next(tbl: ptr8, row: int, st: ptr8) -> int:
    o = row + _R_RTCP_IDX
    idx = uint((tbl[o] << 24) | (tbl[o + 1] << 16) | (tbl[o + 2] << 8) | tbl[o + 3]) + uint(1)
    if idx & uint(0x80000000):
        return -1
    tbl[o] = idx >> 24
    tbl[o + 1] = idx >> 16
    tbl[o + 2] = idx >> 8
    tbl[o + 3] = idx
    st[4] = 0
    st[5] = 0
    st[6] = idx >> 24
    st[7] = idx >> 16
    st[8] = idx >> 8
    st[9] = idx
    return 0


@micropython.viper
def _rtcp_delta(tbl: ptr8, row: int, st: ptr8) -> int:
    o = row + _R_RTCP_IDX
    hi = (tbl[o] << 24) | (tbl[o + 1] << 16) | (tbl[o + 2] << 8) | tbl[o + 3]
    idx = (st[6] << 24) | (st[7] << 16) | (st[8] << 8) | st[9]
    d = idx - hi  # both below 2**31: the difference fits a 32-bit machine word
    if d > _DELTA_CLAMP:
        return _DELTA_CLAMP
    if d < 0 - _DELTA_CLAMP:
        return 0 - _DELTA_CLAMP
    return d


def _seen(tbl, woff, delta):
    """True when the replay window (RFC 3711 §3.3.2) rejects index highest+delta (delta <= 0)."""
    age = -delta
    return age >= _WINDOW or bool(tbl[woff + (age >> 3)] & (1 << (age & 7)))


def _too_many_ssrcs(n):
    raise ConfigError("more SSRCs than srtp_max_ssrcs=%d: raise it in the board profile" % n)


class _ByteTable:
    """The SSRC table in one preallocated bytearray, arithmetic in viper (MicroPython).

    Allocation-free, and no 32-bit value ever becomes an int (docs/srtp.md). `send_*` and
    `recv_*` find the packet's SSRC and index and leave its IV in `iv`; a `recv_*` remembers
    its row (the spare for a new SSRC) for the `commit` that follows a good tag.
    """

    def __init__(self, n, rtp_salt, rtcp_salt, iv_len, pos):
        self._end = n * _ROW
        self._spare = self._end  # a new peer SSRC is tried here until its tag checks out
        self._tbl = bytearray(self._end + _ROW)
        self._st = bytearray(_ST_LEN)
        self._pos = pos
        self._win = 0  # the replay window (row offset) of the packet a recv_* let through
        self.iv = bytearray(iv_len)
        self._rtp_salt = bytearray(iv_len)
        self._rtp_salt[0 : len(rtp_salt)] = rtp_salt
        self._rtcp_salt = bytearray(iv_len)
        self._rtcp_salt[0 : len(rtcp_salt)] = rtcp_salt

    def set_roc(self, ssrc, roc, rtcp_index):
        tbl = self._tbl
        row = _find(tbl, self._end, ssrc.to_bytes(4, "big"), 0, self._st)
        if row < 0:
            row = self._new_row(1)
        tbl[row + _R_ROC : row + _R_ROC + 4] = roc.to_bytes(4, "big")
        tbl[row + _R_RTCP_IDX : row + _R_RTCP_IDX + 4] = rtcp_index.to_bytes(4, "big")

    def send_rtp(self, buf, roc_at):
        """Index the RTP packet in `buf` for sending; its ROC to buf[roc_at:] if roc_at >= 0."""
        tbl = self._tbl
        st = self._st
        row = _find(tbl, self._end, buf, _RTP_SSRC, st)
        if row < 0:
            row = self._new_row(1)
        if _estimate(tbl, row, (buf[2] << 8) | buf[3], st) > 0:
            # A sender only needs its highest index (for the ROC), not a replay window.
            _copy(tbl, row + _R_ROC, st, _ST_INDEX, _HIGHEST)
        _make_iv(self.iv, self._rtp_salt, st, self._pos)
        if roc_at >= 0:
            _copy(buf, roc_at, st, _ST_INDEX, _ROC_LEN)

    def recv_rtp(self, buf, roc_at):
        """Index a received RTP packet: its distance from the highest index, or _REPLAYED."""
        tbl = self._tbl
        st = self._st
        row = _find(tbl, self._end, buf, _RTP_SSRC, st)
        if row < 0:
            row = self._new_row(0)
        self._win = row + _R_WIN
        delta = _estimate(tbl, row, (buf[2] << 8) | buf[3], st)
        if delta <= 0 and _seen(tbl, row + _R_WIN, delta):
            return _REPLAYED
        _make_iv(self.iv, self._rtp_salt, st, self._pos)
        if roc_at >= 0:
            _copy(buf, roc_at, st, _ST_INDEX, _ROC_LEN)
        return delta

    def send_rtcp(self, buf, t):
        """Next SRTCP index of the packet's SSRC, E flag set, to buf[t:t+4]; False if exhausted."""
        tbl = self._tbl
        st = self._st
        row = _find(tbl, self._end, buf, _RTCP_SSRC, st)
        if row < 0:
            row = self._new_row(1)
        if _rtcp_next(tbl, row, st) < 0:
            return False
        _copy(buf, t, st, _ST_RTCP_IDX, _TRAILER)
        buf[t] |= 0x80
        _make_iv(self.iv, self._rtcp_salt, st, self._pos)
        return True

    def recv_rtcp(self, buf, t):
        """Index a received SRTCP packet from its trailer at buf[t:t+4], as `recv_rtp`."""
        tbl = self._tbl
        st = self._st
        row = _find(tbl, self._end, buf, _RTCP_SSRC, st)
        if row < 0:
            row = self._new_row(0)
        self._win = row + _R_RTCP_WIN
        st[_ST_INDEX] = 0  # 00 00 || index: the SRTCP form of the 6-byte index
        st[_ST_INDEX + 1] = 0
        _copy(st, _ST_RTCP_IDX, buf, t, _TRAILER)
        st[_ST_RTCP_IDX] &= 0x7F
        delta = _rtcp_delta(tbl, row, st)
        if delta <= 0 and _seen(tbl, row + _R_RTCP_WIN, delta):
            return _REPLAYED
        _make_iv(self.iv, self._rtcp_salt, st, self._pos)
        return delta

    def commit(self, delta):
        """After a good tag: the last recv_*'s highest index and window move on (the spare row
        joins the table); False when the table is full."""
        win = self._win
        if win >= self._spare:
            row = self._adopt(self._spare)
            if row < 0:
                return False
            win += row - self._spare
        _commit(self._tbl, win, delta, self._st)
        return True

    def _new_row(self, claim):
        """A zeroed row for the SSRC `_find` left in the scratch: claimed (sending), or the spare
        (receiving, until the packet's tag checks out)."""
        tbl = self._tbl
        row = self._spare
        if claim:
            row = self._free()
            if row < 0:
                _too_many_ssrcs(self._end // _ROW)
        for i in range(_ROW):
            tbl[row + i] = 0
        _copy(tbl, row, self._st, 0, 4)
        tbl[row + _R_USED] = claim
        return row

    def _free(self):
        tbl = self._tbl
        for row in range(0, self._end, _ROW):
            if not tbl[row + _R_USED]:
                return row
        return -1

    def _adopt(self, row):
        """The spare row moves into the table (-1 when it is full)."""
        free = self._free()
        if free < 0:
            return -1
        _copy(self._tbl, free, self._tbl, row, _ROW)
        self._tbl[free + _R_USED] = 1
        return free


def _delta(hi, seq):
    """RFC 3711 §3.3.1 / Appendix A over an int: the index of `seq` minus the highest index `hi`
    (ROC-1, ROC or ROC+1; never ROC-1 while the ROC is 0, as in libsrtp)."""
    d = seq - (hi & 0xFFFF)
    if d > _SEQ_HALF:
        if hi > 0xFFFF:
            d -= _SEQ_MOD
    elif d < -_SEQ_HALF:
        d += _SEQ_MOD
    return d


def _window(w, delta):
    """Replay bitmap `w` after accepting index highest+delta (bit k: highest-k received)."""
    if delta <= 0:
        return w | (1 << -delta)
    if delta >= _WINDOW:
        return 1
    return ((w << delta) | 1) & _WIN_MASK


class _IntTable:
    """The SSRC table as Python ints in a dict (CPython): `_ByteTable`'s pure twin, with the same
    interface and behaviour and none of its bytes <-> int conversions.

    A row is [SRTP highest index (ROC << 16 | SEQ), SRTP window, SRTCP index, SRTCP window];
    a new peer SSRC's row joins the dict only in `commit`, after its tag checked out.
    """

    def __init__(self, n, rtp_salt, rtcp_salt, iv_len, pos):
        self._n = n
        self._rows = {}
        self._len = iv_len
        self._shift = (iv_len - pos - _ST_LEN) << 3  # where SSRC || index sits in the IV
        self._rtp_salt = int.from_bytes(rtp_salt, "big") << ((iv_len - len(rtp_salt)) << 3)
        self._rtcp_salt = int.from_bytes(rtcp_salt, "big") << ((iv_len - len(rtcp_salt)) << 3)
        self.iv = bytes(iv_len)
        # The packet a recv_* let through, for its commit: row, SSRC, index and where in the row.
        self._row = None
        self._ssrc = 0
        self._index = 0
        self._k = 0

    def _claim(self, ssrc):
        row = self._rows.get(ssrc)
        if row is None:
            if len(self._rows) >= self._n:
                _too_many_ssrcs(self._n)
            row = self._rows[ssrc] = [0, 0, 0, 0]
        return row

    def _iv(self, salt, ssrc, index):
        return (salt ^ (((ssrc << 48) | index) << self._shift)).to_bytes(self._len, "big")

    def set_roc(self, ssrc, roc, rtcp_index):
        row = self._claim(ssrc)
        row[0] = (roc << 16) | (row[0] & 0xFFFF)
        row[2] = rtcp_index

    def send_rtp(self, buf, roc_at):
        ssrc = int.from_bytes(buf[_RTP_SSRC : _RTP_SSRC + 4], "big")
        row = self._rows.get(ssrc) or self._claim(ssrc)
        hi = row[0]
        d = _delta(hi, (buf[2] << 8) | buf[3])
        x = (hi + d) & _INDEX_MASK
        if d > 0:
            row[0] = x
        self.iv = self._iv(self._rtp_salt, ssrc, x)
        if roc_at >= 0:
            buf[roc_at : roc_at + _ROC_LEN] = (x >> 16).to_bytes(_ROC_LEN, "big")

    def recv_rtp(self, buf, roc_at):
        ssrc = int.from_bytes(buf[_RTP_SSRC : _RTP_SSRC + 4], "big")
        row = self._rows.get(ssrc) or [0, 0, 0, 0]
        hi = row[0]
        d = _delta(hi, (buf[2] << 8) | buf[3])
        if d <= 0 and (d <= -_WINDOW or (row[1] >> -d) & 1):
            return _REPLAYED
        x = (hi + d) & _INDEX_MASK
        self._row = row
        self._ssrc = ssrc
        self._k = 0
        self._index = x
        self.iv = self._iv(self._rtp_salt, ssrc, x)
        if roc_at >= 0:
            buf[roc_at : roc_at + _ROC_LEN] = (x >> 16).to_bytes(_ROC_LEN, "big")
        return d

    def send_rtcp(self, buf, t):
        ssrc = int.from_bytes(buf[_RTCP_SSRC : _RTCP_SSRC + 4], "big")
        row = self._rows.get(ssrc) or self._claim(ssrc)
        idx = row[2] + 1
        if idx > _MAX_RTCP_INDEX:
            return False
        row[2] = idx
        buf[t : t + _TRAILER] = (idx | 0x80000000).to_bytes(_TRAILER, "big")
        self.iv = self._iv(self._rtcp_salt, ssrc, idx)
        return True

    def recv_rtcp(self, buf, t):
        ssrc = int.from_bytes(buf[_RTCP_SSRC : _RTCP_SSRC + 4], "big")
        row = self._rows.get(ssrc) or [0, 0, 0, 0]
        idx = int.from_bytes(buf[t : t + _TRAILER], "big") & _MAX_RTCP_INDEX
        d = idx - row[2]
        if d <= 0 and (d <= -_WINDOW or (row[3] >> -d) & 1):
            return _REPLAYED
        self._row = row
        self._ssrc = ssrc
        self._k = 2
        self._index = idx
        self.iv = self._iv(self._rtcp_salt, ssrc, idx)
        return d

    def commit(self, delta):
        row = self._row
        rows = self._rows
        if rows.get(self._ssrc) is not row:
            if len(rows) >= self._n:
                return False
            rows[self._ssrc] = row
        k = self._k
        if delta > 0:
            row[k] = self._index
        row[k + 1] = _window(row[k + 1], delta)
        return True


_Table = fast(_ByteTable, _IntTable)


class SrtpCounters:
    """Packets unprotect dropped, by cause; `ssrc_overflow` = new SSRC with the table full."""

    def __init__(self):
        self.malformed = 0
        self.bad_auth = 0
        self.replayed = 0
        self.ssrc_overflow = 0


class SrtpSession:
    """One direction of SRTP/SRTCP (RFC 3711 §3, RFC 7714): protect or unprotect in place.

    `protect_rtp(buf, n)` encrypts and tags `buf[0:n]`, returning the new length (`buf` has room
    for `overhead(profile_id)` more bytes, plus 4 for RTCP). `unprotect_rtp(buf, n)` returns the
    plaintext length or -1 (malformed, bad tag, replay: counted in `counters`); it never raises
    on peer input. `keys` overrides key derivation (a `derive_keys` tuple; tests use it).
    """

    def __init__(self, profile_id, master_key, master_salt, profile, keys=None):
        if keys is None:
            keys = derive_keys(profile_id, master_key, master_salt)
        rtp_key, rtp_auth, rtp_salt, rtcp_key, rtcp_auth, rtcp_salt = keys
        self.profile_id = profile_id
        self._gcm = profile_id == PROFILE_AEAD_AES_128_GCM
        _salt_len(profile_id)
        self._tag_len = overhead(profile_id)
        n = profile.srtp_max_ssrcs
        if n < 1:
            raise ConfigError("srtp_max_ssrcs must be at least 1 (boards/__init__.py)")
        self._mac = bytearray(_SHA1_LEN)
        self._tag = bytearray(_GCM_TAG)
        self._aad = bytearray(_RTCP_MIN + _TRAILER)
        if self._gcm:
            self._rtp_gcm = AesGcm(rtp_key)
            self._rtcp_gcm = AesGcm(rtcp_key)
            self._ssrcs = _Table(n, rtp_salt, rtcp_salt, _GCM_SALT, _GCM_IV_POS)
        else:
            self._rtp_aes = Aes128(rtp_key)
            self._rtcp_aes = Aes128(rtcp_key)
            self._rtp_hmac = HmacSha1(rtp_auth)
            self._rtcp_hmac = HmacSha1(rtcp_auth)
            self._ssrcs = _Table(n, rtp_salt, rtcp_salt, _CM_IV, _CM_IV_POS)
        self.counters = SrtpCounters()

    def set_roc(self, ssrc, roc, rtcp_index=0):
        """Start SSRC `ssrc` at rollover counter `roc` and SRTCP index `rtcp_index` (RFC 3711
        §3.3.1: a receiver joining late learns the ROC out of band)."""
        self._ssrcs.set_roc(ssrc, roc, rtcp_index)

    def protect_rtp(self, buf, n):
        """SRTP-protect the RTP packet buf[0:n] in place (RFC 3711 §3.3); the new length."""
        h = rtp_header_len(buf, n)
        if h < 0:
            raise ConfigError("protect_rtp: buf[0:n] is not an RTP packet")
        if n + self._tag_len > len(buf):
            raise BufferTooSmall("protect_rtp: buf needs %d more bytes" % self._tag_len)
        ssrcs = self._ssrcs
        if self._gcm:
            ssrcs.send_rtp(buf, -1)
            self._rtp_gcm.seal_packet(ssrcs.iv, buf, h, n - h)
            return n + _GCM_TAG
        # The tag covers header || payload || ROC (RFC 3711 §4.2): the ROC goes where the tag
        # will be, then the tag overwrites it.
        ssrcs.send_rtp(buf, n)
        self._rtp_aes.ctr_xor(ssrcs.iv, buf, h, n - h)
        mac = self._mac
        self._rtp_hmac.digest_into(buf, 0, n + _ROC_LEN, mac, 0)
        _copy(buf, n, mac, 0, _CM_TAG)
        return n + _CM_TAG

    def unprotect_rtp(self, buf, n):
        """Check and decrypt the SRTP packet buf[0:n] in place (RFC 3711 §3.3); the plaintext
        length, or -1 (counted). On -1 buf may have changed."""
        m = n - self._tag_len
        h = rtp_header_len(buf, m)
        if h < 0:
            self.counters.malformed += 1
            return -1
        ssrcs = self._ssrcs
        gcm = self._gcm
        if not gcm:
            _copy(self._tag, 0, buf, m, _CM_TAG)  # before the ROC goes there
        delta = ssrcs.recv_rtp(buf, -1 if gcm else m)
        if delta == _REPLAYED:
            self.counters.replayed += 1
            return -1
        if gcm:
            ok = self._rtp_gcm.open_packet(ssrcs.iv, buf, h, m - h)
        else:
            mac = self._mac
            self._rtp_hmac.digest_into(buf, 0, m + _ROC_LEN, mac, 0)
            ok = not _diff(mac, 0, self._tag, 0, _CM_TAG)
            if ok:
                self._rtp_aes.ctr_xor(ssrcs.iv, buf, h, m - h)
        return self._accepted(ok, delta, m)

    def _accepted(self, ok, delta, m):
        """`m` once the tag checked out and the SSRC table took the index; -1 (counted) if not."""
        if not ok:
            self.counters.bad_auth += 1
            return -1
        if not self._ssrcs.commit(delta):
            self.counters.ssrc_overflow += 1
            return -1
        return m

    def protect_rtcp(self, buf, n):
        """SRTCP-protect the (compound) RTCP packet buf[0:n] in place (RFC 3711 §3.4, RFC 7714
        §9); the new length (tag and E flag + index added)."""
        if n < _RTCP_MIN or buf[0] & 0xC0 != 0x80:
            raise ConfigError("protect_rtcp: buf[0:n] is not an RTCP packet")
        if n + self._tag_len + _TRAILER > len(buf):
            raise BufferTooSmall(
                "protect_rtcp: buf needs %d more bytes" % (self._tag_len + _TRAILER)
            )
        ssrcs = self._ssrcs
        gcm = self._gcm
        t = n + _GCM_TAG if gcm else n  # E flag + index: after the tag for GCM, before it for CM
        if not ssrcs.send_rtcp(buf, t):
            raise StateError("SRTCP index exhausted (2**31 packets): rekey the session")
        if gcm:
            # AAD = header || E flag + index (RFC 7714 §9.1).
            aad = self._aad
            _copy(aad, 0, buf, 0, _RTCP_MIN)
            _copy(aad, _RTCP_MIN, buf, t, _TRAILER)
            self._rtcp_gcm.seal(
                ssrcs.iv, aad, 0, _RTCP_MIN + _TRAILER, buf, _RTCP_MIN, n - _RTCP_MIN, buf, n
            )
            return n + _GCM_TAG + _TRAILER
        self._rtcp_aes.ctr_xor(ssrcs.iv, buf, _RTCP_MIN, n - _RTCP_MIN)
        self._rtcp_hmac.digest_into(buf, 0, n + _TRAILER, self._mac, 0)
        _copy(buf, n + _TRAILER, self._mac, 0, _CM_TAG)
        return n + _TRAILER + _CM_TAG

    def unprotect_rtcp(self, buf, n):
        """Check and decrypt the SRTCP packet buf[0:n] in place (RFC 3711 §3.4, RFC 7714 §9);
        the RTCP length, or -1 (counted). Accepts E=0 (authenticated only) packets too."""
        gcm = self._gcm
        m = n - self._tag_len - _TRAILER  # end of the RTCP packet
        if m < _RTCP_MIN or buf[0] & 0xC0 != 0x80:
            self.counters.malformed += 1
            return -1
        t = n - _TRAILER if gcm else m  # E flag + index
        encrypted = buf[t] & 0x80
        ssrcs = self._ssrcs
        delta = ssrcs.recv_rtcp(buf, t)
        if delta == _REPLAYED:
            self.counters.replayed += 1
            return -1
        if gcm:
            ok = self._open_rtcp(ssrcs.iv, buf, m, t, encrypted)
        else:
            self._rtcp_hmac.digest_into(buf, 0, m + _TRAILER, self._mac, 0)
            ok = not _diff(self._mac, 0, buf, m + _TRAILER, _CM_TAG)
            if ok and encrypted:
                self._rtcp_aes.ctr_xor(ssrcs.iv, buf, _RTCP_MIN, m - _RTCP_MIN)
        return self._accepted(ok, delta, m)

    def _open_rtcp(self, iv, buf, m, t, encrypted):
        if encrypted:
            aad = self._aad
            _copy(aad, 0, buf, 0, _RTCP_MIN)
            _copy(aad, _RTCP_MIN, buf, t, _TRAILER)
            return self._rtcp_gcm.open(
                iv, aad, 0, _RTCP_MIN + _TRAILER, buf, _RTCP_MIN, m - _RTCP_MIN, buf, m
            )
        # E=0: the whole packet and the trailer are AAD (RFC 7714 §9.2); moving the tag aside
        # and the trailer up against the packet makes that AAD contiguous.
        tag = self._tag
        _copy(tag, 0, buf, m, _GCM_TAG)
        _copy(buf, m, buf, t, _TRAILER)
        return self._rtcp_gcm.open(iv, buf, 0, m + _TRAILER, buf, 0, 0, tag, 0)
