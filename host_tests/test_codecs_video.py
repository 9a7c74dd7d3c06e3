"""H.264 (RFC 6184), VP8 (RFC 7741) payloads and IVF files: rtc_micro/codecs/{h264,vp8,ivf}.py."""

import io

import boards
from rtc_micro.codecs import h264, ivf, vp8
from rtc_micro.errors import ConfigError

_PROFILE = boards.load("esp32").derive(video_frame_bytes=8192)

_SPS = b"\x67\x42\xc0\x1f\xda\x01\x40\x16\xec\x04\x40\x00\x00\x03\x00\x40\x00\x00\x0f\x03\xc6\x0c"
_PPS = b"\x68\xce\x3c\x80"


def _nal(hdr, n, seed):
    b = bytearray(n)
    b[0] = hdr
    x = seed
    for i in range(1, n):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        v = (x >> 16) & 255
        b[i] = v if v > 3 else 4  # keep start-code-free, as an encoder's emulation prevention does
    return bytes(b)


def _annexb(nals, long_codes=True):
    out = b""
    for k in range(len(nals)):
        out += (b"\x00\x00\x00\x01" if long_codes or k == 0 else b"\x00\x00\x01") + nals[k]
    return out


def _packetize(p, au):
    p.begin(au, 0, len(au))
    out = []
    buf = bytearray(p.max_payload)
    while True:
        n = p.next(buf, 0)
        if not n:
            return out
        assert n <= p.max_payload
        out.append((bytes(buf[0:n]), p.marker))


def test_h264_idr_with_parameter_sets():
    p = h264.H264Packetizer(_PROFILE)
    assert p.max_payload == 1200 - 28
    idr = _nal(0x65, 3000, 1)
    au = b"\x00\x00\x00\x01\x09\xf0" + _annexb([_SPS, _PPS, idr], long_codes=False)  # AUD first
    pkts = _packetize(p, au)
    assert pkts[0][0][0] & 31 == h264.NAL_STAP_A
    assert pkts[0][0] == b"\x78" + bytes([0, len(_SPS)]) + _SPS + bytes([0, len(_PPS)]) + _PPS
    fus = pkts[1:]
    assert len(fus) == 3 and all(f[0][0] == 0x7C for f in fus)  # NRI 3, type 28
    assert fus[0][0][1] == 0x85 and fus[1][0][1] == 0x05 and fus[2][0][1] == 0x45
    assert [m for _, m in pkts] == [0, 0, 0, 1]
    d = h264.H264Depacketizer(_PROFILE)
    n = 0
    for k in range(len(pkts)):
        n = d.push(pkts[k][0], 0, len(pkts[k][0]), 100 + k, pkts[k][1])
    assert n and d.keyframe
    assert bytes(d.frame[0:n]) == _annexb([_SPS, _PPS, idr])


def test_h264_parameter_sets_before_every_idr():
    p = h264.H264Packetizer(_PROFILE)
    _packetize(p, _annexb([_SPS, _PPS, _nal(0x65, 500, 2)]))
    small = _nal(0x41, 600, 3)
    pkts = _packetize(p, _annexb([small]))
    assert pkts == [(small, 1)]  # a P frame alone: single NAL unit mode
    pkts = _packetize(p, _annexb([_nal(0x65, 400, 4)]))  # IDR without SPS/PPS in the stream
    assert pkts[0][0][0] & 31 == h264.NAL_STAP_A and pkts[1][0][0] == 0x65
    two = _packetize(p, _annexb([_nal(0x06, 20, 5), _nal(0x41, 30, 6)]))  # SEI + slice
    assert [m for _, m in two] == [0, 1]


def test_h264_loss_drops_access_unit():
    p = h264.H264Packetizer(_PROFILE)
    d = h264.H264Depacketizer(_PROFILE)
    seq = 0
    results = []
    for k in range(3):
        pkts = _packetize(p, _annexb([_nal(0x41, 2500, k)]))
        n = 0
        for j in range(len(pkts)):
            if k == 1 and j == 1:
                seq += 1
                continue  # lost
            n = d.push(pkts[j][0], 0, len(pkts[j][0]), seq, pkts[j][1])
            seq += 1
        results.append(n)
    assert results[0] > 0 and results[1] == 0 and results[2] > 0 and d.lost_frames == 1


def test_h264_malformed_payloads():
    d = h264.H264Depacketizer(_PROFILE)
    assert d.push(b"\x18\x00\x50\x67", 0, 4, 1, 1) == 0  # STAP-A size beyond the payload
    assert d.push(b"\x7c\x05\x01\x02", 0, 4, 2, 1) == 0  # FU-A middle without a start
    assert d.push(b"\x7d\x00", 0, 2, 3, 1) == 0  # FU-B: not in packetization-mode 1
    assert d.malformed == 2 and d.lost_frames == 3
    assert d.push(b"\x41\x01\x02", 0, 3, 4, 1) == 7  # and it recovers


def test_vp8_roundtrip_and_descriptor():
    p = vp8.Vp8Packetizer(_PROFILE, max_payload=500, picture_id=0x7FFF)
    frame = bytes([0x10]) + bytes(range(256)) * 8  # P bit 0: keyframe
    pkts = _packetize(p, frame)
    assert len(pkts) == 5 and [m for _, m in pkts] == [0, 0, 0, 0, 1]
    desc = vp8.Vp8Descriptor()
    assert vp8.pull_descriptor(pkts[0][0], 0, len(pkts[0][0]), desc) == 4
    assert desc.start == 1 and desc.pid == 0 and desc.picture_id == 0  # wrapped from 0x7FFF
    d = vp8.Vp8Depacketizer(_PROFILE)
    n = 0
    for k in range(len(pkts)):
        n = d.push(pkts[k][0], 0, len(pkts[k][0]), 65534 + k & 0xFFFF, pkts[k][1])
    assert bytes(d.frame[0:n]) == frame and d.keyframe
    # All optional fields (RFC 7741 §4.2): X, I (7-bit), L, T, K.
    b = bytes([0x90, 0xF0, 0x05, 0x07, 0xB3, 0x11])
    assert vp8.pull_descriptor(b, 0, len(b), desc) == 5
    assert (desc.picture_id, desc.tl0picidx, desc.tid, desc.keyidx) == (5, 7, 2, 19)
    assert vp8.pull_descriptor(b, 0, 3, desc) == -1


def test_vp8_loss():
    p = vp8.Vp8Packetizer(_PROFILE, max_payload=300)
    d = vp8.Vp8Depacketizer(_PROFILE)
    pkts = _packetize(p, bytes([0x11]) + bytes(1000))
    for k in (0, 2, 3):
        n = d.push(pkts[k][0], 0, len(pkts[k][0]), k, pkts[k][1])
    assert n == 0 and d.lost_frames == 1
    pkts = _packetize(p, bytes([0x11]) + bytes(100))
    assert d.push(pkts[0][0], 0, len(pkts[0][0]), 4, 1) == 101 and not d.keyframe


def test_ivf_roundtrip():
    f = io.BytesIO()
    w = ivf.IvfWriter(f, b"VP80", 320, 240, 30, 1)
    frames = [bytes([k]) * (100 + k * 50) for k in range(4)]
    for k in range(4):
        w.write_frame(frames[k], 0, len(frames[k]), k * 3)
    w.close()
    data = f.getvalue()
    assert data[0:4] == b"DKIF" and len(data) == 32 + 4 * 12 + sum(len(x) for x in frames)
    r = ivf.IvfReader(io.BytesIO(data), _PROFILE)
    assert (r.fourcc, r.width, r.height) == (b"VP80", 320, 240)
    assert (r.rate, r.scale, r.frames) == (30, 1, 4)
    for k in range(4):
        n = r.next_frame()
        assert bytes(r.frame[0:n]) == frames[k] and r.pts == k * 3
    assert r.next_frame() == -1
    try:
        ivf.IvfReader(io.BytesIO(b"RIFF" + bytes(40)), _PROFILE)
    except ConfigError:
        pass
    else:
        raise AssertionError("accepted a non-IVF file")


def test_h264_access_units_and_sliced_idr():
    idr_a = b"\x65\x88" + _nal(0x65, 300, 7)[2:]  # first_mb_in_slice 0 (first bit set)
    idr_b = b"\x65\x20" + _nal(0x65, 300, 8)[2:]  # a later slice of the same picture
    p_frame = b"\x41\x9a" + _nal(0x41, 200, 9)[2:]
    stream = _annexb([_SPS, _PPS, idr_a, idr_b, p_frame, b"\x09\xf0", p_frame])
    ends = []
    pos = 0
    while pos < len(stream):
        pos = h264.access_unit_end(stream, pos, len(stream))
        ends.append(pos)
    first = 4 * 4 + len(_SPS) + len(_PPS) + 2 * 300
    assert ends == [first, first + 4 + 200, len(stream)]
    p = h264.H264Packetizer(_PROFILE)
    pkts = _packetize(p, stream[0:first])
    kinds = [pk[0][0] & 31 for pk in pkts]
    assert kinds == [h264.NAL_STAP_A, 5, 5]  # parameter sets once per access unit


def test_find_start_twins_agree():
    from host_tests.support import skip
    from rtc_micro import compat

    if not compat.MICROPYTHON:
        skip("twins differ only on MicroPython")
    data = b"\x05\x00\x00\x01\x41\x00\x00\x00\x01\x65\x00\x00\x02\x00\x00\x01"
    for pos in range(len(data)):
        for end in (len(data), len(data) - 1, 9):
            assert h264._find_start_viper(data, pos, end) == h264._find_start_pure(data, pos, end)


def _same(a, aoff, b, boff, n):
    for i in range(n):
        if a[aoff + i] != b[boff + i]:
            return False
    return True


def test_annexb_reader_streams_the_shipped_file_in_units():
    # Streamed against a second handle into one buffer, never a copy of a unit or of the file
    # (a board-sized heap).
    path = "examples/media/pattern.h264"
    p16 = boards.load("esp32")  # 16 KB: every unit of the file fits
    want = bytearray(p16.video_frame_bytes)
    wv = memoryview(want)
    with open(path, "rb") as f, open(path, "rb") as g, open(path, "rb") as h:
        r = h264.AnnexBReader(f, p16)
        small = h264.AnnexBReader(h, p16.derive(video_frame_bytes=6000))
        units = skipped = first = 0
        while True:
            n = r.next_access_unit()
            if not n:
                break
            units += 1
            first = first or n
            assert g.readinto(wv[0:n]) == n and _same(r.buf, r.off, want, 0, n)
            assert want[0:3] == b"\x00\x00\x00"
            assert h264.access_unit_end(want, 0, n) == n  # exactly one unit
            if n > 6000:
                skipped += 1
            else:
                assert small.next_access_unit() == n and _same(small.buf, small.off, want, 0, n)
        assert g.read(1) == b"" and units == 30 and r.oversize == 0
        assert small.next_access_unit() == 0 and small.oversize == skipped > 0
        r.rewind()
        g.seek(0)
        assert r.next_access_unit() == first and g.readinto(wv[0:first]) == first
        assert _same(r.buf, r.off, want, 0, first)
