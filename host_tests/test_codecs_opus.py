"""Opus TOC durations (RFC 6716 §3.1), Ogg pages (RFC 3533, RFC 7845): codecs/opus.py."""

import io

import boards
from rtc_micro.codecs import opus

_PROFILE = boards.load("esp32").derive(ogg_page_bytes=1024)


def test_packet_samples():
    assert opus.packet_samples(b"\x08", 0, 1) == 960  # SILK NB 20 ms, one frame
    assert opus.packet_samples(b"\xf8\x00", 0, 2) == 960  # CELT FB 20 ms
    assert opus.packet_samples(b"\x83\x03", 0, 2) == 360  # CELT 2.5 ms, code 3, 3 frames
    assert opus.packet_samples(b"\x61", 0, 1) == 960  # hybrid SWB 10 ms, code 1: 2 frames
    assert opus.packet_samples(b"\x1b\x03", 0, 2) == 0  # 3 x 60 ms > 120 ms
    assert opus.packet_samples(b"\x03", 0, 1) == 0  # code 3 without a count byte
    assert opus.packet_samples(b"", 0, 0) == 0
    assert opus.packet_samples(b"\xff\x00", 1, 1) == 480  # at an offset: SILK 10 ms
    assert opus.frame_samples(0x10 << 3) == 120


def test_ogg_crc_check_value():
    # CRC-32 poly 0x04C11DB7, init 0, not reflected, no final XOR: the complement of the
    # catalogued CRC-32/POSIX check value 0x765E7680 over "123456789".
    assert opus.ogg_crc(b"123456789", 0, 9) == 0x89A1897F
    # Chaining over two pieces gives the same result.
    assert opus.ogg_crc(b"6789", 0, 4, opus.ogg_crc(b"12345", 0, 5)) == 0x89A1897F


def _sample_packets():
    sizes = (0, 1, 254, 255, 256, 510, 1000, 40, 700)
    pkts = []
    for k in range(len(sizes)):
        pkts.append(bytes([(k * 31 + i) & 255 for i in range(sizes[k])]))
    return pkts


def _write(pkts):
    f = io.BytesIO()
    w = opus.OggWriter(f, 0x1234ABCD, _PROFILE)
    head = opus.opus_head(1, 312, 48000)
    w.write_packet(head, 0, len(head), 0)
    w.flush()
    tags = opus.opus_tags(b"rtc_micro")
    w.write_packet(tags, 0, len(tags), 0)
    w.flush()
    g = 0
    for p in pkts:
        g += 960
        w.write_packet(p, 0, len(p), g)
    w.close()
    return f.getvalue(), w.pages


def _read_all(r):
    out = []
    while True:
        n = r.next_packet()
        if n < 0:
            return out
        out.append((bytes(r.packet[0:n]), r.granule, r.page_flags))


def test_ogg_roundtrip_memory_and_file():
    pkts = _sample_packets()
    data, pages = _write(pkts)
    assert data[0:4] == b"OggS" and pages >= 6  # the 1000-byte packet spans pages
    assert data[5] == opus.FLAG_BOS
    for src in (data, io.BytesIO(data)):
        r = opus.OggReader(src, _PROFILE)
        got = _read_all(r)
        assert len(got) == 2 + len(pkts)
        head = opus.OpusHead()
        assert opus.pull_opus_head(got[0][0], 0, len(got[0][0]), head)
        assert (head.channels, head.pre_skip, head.input_rate, head.mapping) == (1, 312, 48000, 0)
        assert opus.is_opus_tags(got[1][0], 0, len(got[1][0]))
        for k in range(len(pkts)):
            assert got[2 + k][0] == pkts[k], k
        assert got[-1][1] == 960 * len(pkts) and got[-1][2] & opus.FLAG_EOS
        assert r.serial == 0x1234ABCD
        assert r.counters.bad_crc == 0 and r.counters.malformed == 0


def test_ogg_bad_crc_drops_page():
    pkts = _sample_packets()
    data, _ = _write(pkts)
    bad = bytearray(data)
    # Corrupt a byte inside the third page (first audio page).
    third = bad.find(b"OggS", bad.find(b"OggS", 4) + 4)
    bad[third + 40] ^= 0xFF
    r = opus.OggReader(bad, _PROFILE)
    got = _read_all(r)
    assert r.counters.bad_crc == 1
    assert len(got) < 2 + len(pkts)
    assert got[-1][0] == pkts[-1]  # the stream carries on after the bad page


def test_ogg_packet_too_large_is_counted():
    small = boards.load("esp32").derive(ogg_page_bytes=600)
    f = io.BytesIO()
    w = opus.OggWriter(f, 1, _PROFILE)
    big = bytes(900)
    w.write_packet(big, 0, 900, 960)
    w.write_packet(b"ok", 0, 2, 1920)
    w.close()
    r = opus.OggReader(f.getvalue(), small)
    got = _read_all(r)
    assert [g[0] for g in got] == [b"ok"] and r.counters.oversize >= 1


def test_crc_twins_agree():
    from host_tests.support import skip
    from rtc_micro import compat

    if not compat.MICROPYTHON:
        skip("twins differ only on MicroPython")
    data = bytes(range(256)) * 3
    for start in (0, 0x12345678, 0xFFFFFFFF):
        assert opus._crc_viper(start, data, 5, 700, opus._CRC_TABLE) == \
            opus._crc_pure(start, data, 5, 700, opus._CRC_TABLE)


def test_shipped_file_plays_on_a_board_profile():
    # examples/media/tone440.opus, read from the file in page steps with the esp32's sizes.
    head = opus.OpusHead()
    with open("examples/media/tone440.opus", "rb") as f:
        r = opus.OggReader(f, boards.load("esp32"))
        n = r.next_packet()
        assert opus.pull_opus_head(r.packet, 0, n, head) and head.channels == 1
        n = r.next_packet()
        assert opus.is_opus_tags(r.packet, 0, n)
        samples = 0
        packets = 0
        while True:
            n = r.next_packet()
            if n < 0:
                break
            samples += opus.packet_samples(r.packet, 0, n)
            packets += 1
        granule = r.granule
        r.rewind()  # loop the clip: the same header again, no new buffers
        assert opus.pull_opus_head(r.packet, 0, r.next_packet(), head) and r.granule == 0
        r.granule = granule
    assert packets >= 100 and samples == packets * 960  # 20 ms each: the RTP timestamp step
    # The last page's granule trims the padding of the last packet (RFC 7845 §4.4): 2 s exactly.
    assert r.granule - head.pre_skip == 96000 and r.granule <= samples
    c = r.counters
    assert (c.bad_crc, c.malformed, c.oversize) == (0, 0, 0)
