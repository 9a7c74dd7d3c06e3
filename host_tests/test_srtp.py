"""SRTP/SRTCP (rtc_micro/srtp.py): RFC 3711 B.2/B.3 and RFC 7714 §16/§17 vectors, rollover,
replay window, SSRC table bound, malformed input, index edges, viper/pure twins (and the byte
and int SSRC tables against each other), allocation-free round trips.
"""

import boards
from host_tests.support import assert_no_alloc, raises, skip
from rtc_micro import compat, srtp
from rtc_micro.errors import BufferTooSmall, ConfigError, StateError

CM = srtp.PROFILE_AES128_CM_SHA1_80
GCM = srtp.PROFILE_AEAD_AES_128_GCM
PROFILE = boards.load("esp32")

# RFC 3711 B.3
B3_KEY = bytes.fromhex("E1F97A0D3E018BE0D64FA32C06DE4139")
B3_SALT = bytes.fromhex("0EC675AD498AFEEBB6960B3AABE6")

# RFC 7714 §16/§17 (AES-128): session key and salt given directly, no key derivation.
G_KEY = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
G_SALT = bytes.fromhex("517569642070726f2071756f")
G_KEYS = (G_KEY, None, G_SALT, G_KEY, None, G_SALT)
G_RTP = bytes.fromhex(
    "8040f17b8041f8d35501a0b247616c6c696120657374206f6d6e697320646976"
    "69736120696e207061727465732074726573"
)
G_SRTP = bytes.fromhex(
    "8040f17b8041f8d35501a0b2f24de3a3fb34de6cacba861c9d7e4bcabe633bd5"
    "0d294e6f42a5f47a51c7d19b36de3adf8833899d7f27beb16a9152cf765ee4390cce"
)
G_RTCP = bytes.fromhex(
    "81c8000d4d6172734e5450314e54503252545020" "0000042a0000e9304c756e61"
    "deadbeefdeadbeefdeadbeefdeadbeefdeadbeef"
)
G_SRTCP = bytes.fromhex(
    "81c8000d4d61727363e94885dcdab67ca727d7662f6b7e997ff5c0f76c06f32d"
    "c676a5f1730d6fda4ce09b4686303ded0bb9275bc84aa45896cf4d2fc5abf872"
    "45d9eade800005d4"
)
G_SRTCP_AUTH_ONLY = bytes.fromhex(
    "81c8000d4d6172734e5450314e545032525450200000042a0000e9304c756e61"
    "deadbeefdeadbeefdeadbeefdeadbeefdeadbeef841dd9683dd78ec92ae58790"
    "125f62b3000005d4"
)

KEY = bytes(range(16))
SALT14 = bytes(range(100, 114))
SALT12 = bytes(range(100, 112))


def _pair(profile_id, profile=PROFILE):
    salt = SALT12 if profile_id == GCM else SALT14
    return (
        srtp.SrtpSession(profile_id, KEY, salt, profile),
        srtp.SrtpSession(profile_id, KEY, salt, profile),
    )


def _rtp(seq, ssrc=0x11223344, payload=160, room=16):
    buf = bytearray(12 + payload + room)
    buf[0] = 0x80
    buf[1] = 0
    buf[2] = seq >> 8
    buf[3] = seq & 0xFF
    buf[8:12] = ssrc.to_bytes(4, "big")
    for i in range(payload):
        buf[12 + i] = (i * 7 + seq) & 0xFF
    return buf, 12 + payload


def _rtcp(ssrc=0x11223344, room=20):
    # SR: header, SSRC, 20 bytes of sender info.
    body = bytes.fromhex("80c80006") + ssrc.to_bytes(4, "big") + bytes(range(1, 21))
    buf = bytearray(len(body) + room)
    buf[0 : len(body)] = body
    return buf, len(body)


def test_rfc3711_b3_key_derivation():
    k = srtp.derive_keys(CM, B3_KEY, B3_SALT)
    assert k[0] == bytes.fromhex("C61E7A93744F39EE10734AFE3FF7A087")
    assert k[1] == bytes.fromhex("CEBE321F6FF7716B6FD4AB49AF256A156D38BAA4")
    assert k[2] == bytes.fromhex("30CBBC08863D8C85D49DB34A9AE1")
    assert len(k[3]) == 16 and len(k[4]) == 20 and len(k[5]) == 14 and k[3] != k[0]


def test_rfc3711_b2_keystream():
    # SSRC 0, ROC 0, SEQ 0: the AES-CM counter is the salt itself; a zero payload shows the
    # keystream.
    salt = bytes.fromhex("F0F1F2F3F4F5F6F7F8F9FAFBFCFD")
    key = bytes.fromhex("2B7E151628AED2A6ABF7158809CF4F3C")
    keys = (key, bytes(20), salt, key, bytes(20), salt)
    s = srtp.SrtpSession(CM, None, None, PROFILE, keys)
    buf = bytearray(12 + 48 + 10)
    buf[0] = 0x80
    assert s.protect_rtp(buf, 60) == 70
    assert bytes(buf[12:60]) == bytes.fromhex(
        "E03EAD0935C95E80E166B16DD92B4EB4D23513162B02D0F72A43A2FE4A5F97AB"
        "41E95B3BB0A2E8DD477901E4FCA894C0"
    )


def test_rfc7714_srtp_gcm_vector():
    tx = srtp.SrtpSession(GCM, None, None, PROFILE, G_KEYS)
    buf = bytearray(len(G_RTP) + 16)
    buf[0 : len(G_RTP)] = G_RTP
    assert tx.protect_rtp(buf, len(G_RTP)) == len(G_SRTP)
    assert bytes(buf) == G_SRTP
    rx = srtp.SrtpSession(GCM, None, None, PROFILE, G_KEYS)
    assert rx.unprotect_rtp(buf, len(buf)) == len(G_RTP)
    assert bytes(buf[0 : len(G_RTP)]) == G_RTP


def test_rfc7714_srtcp_gcm_vectors():
    tx = srtp.SrtpSession(GCM, None, None, PROFILE, G_KEYS)
    tx.set_roc(0x4D617273, 0, 0x5D3)  # the next SRTCP index is 0x5d4
    buf = bytearray(len(G_SRTCP))
    buf[0 : len(G_RTCP)] = G_RTCP
    assert tx.protect_rtcp(buf, len(G_RTCP)) == len(G_SRTCP)
    assert bytes(buf) == G_SRTCP
    rx = srtp.SrtpSession(GCM, None, None, PROFILE, G_KEYS)
    assert rx.unprotect_rtcp(buf, len(buf)) == len(G_RTCP)
    assert bytes(buf[0 : len(G_RTCP)]) == G_RTCP
    # E=0: authenticated only (RFC 7714 §17.2); a fresh receiver, same index.
    rx = srtp.SrtpSession(GCM, None, None, PROFILE, G_KEYS)
    buf = bytearray(G_SRTCP_AUTH_ONLY)
    assert rx.unprotect_rtcp(buf, len(buf)) == len(G_RTCP)
    assert bytes(buf[0 : len(G_RTCP)]) == G_RTCP
    buf = bytearray(G_SRTCP_AUTH_ONLY)
    buf[20] ^= 1
    rx = srtp.SrtpSession(GCM, None, None, PROFILE, G_KEYS)
    assert rx.unprotect_rtcp(buf, len(buf)) == -1 and rx.counters.bad_auth == 1


def _roundtrip(profile_id):
    tx, rx = _pair(profile_id)
    tag = srtp.overhead(profile_id)
    for seq in (1, 2, 3):
        buf, n = _rtp(seq)
        plain = bytes(buf[0:n])
        m = tx.protect_rtp(buf, n)
        assert m == n + tag and bytes(buf[12:n]) != plain[12:]
        assert bytes(buf[0:12]) == plain[0:12]
        wire = bytes(buf[0:m])
        assert rx.unprotect_rtp(buf, m) == n and bytes(buf[0:n]) == plain
        buf[0:m] = wire
        assert rx.unprotect_rtp(buf, m) == -1  # replay
    assert rx.counters.replayed == 3
    buf, n = _rtp(4)
    m = tx.protect_rtp(buf, n)
    buf[20] ^= 0x40
    assert rx.unprotect_rtp(buf, m) == -1 and rx.counters.bad_auth == 1
    for _ in range(3):
        buf, n = _rtcp()
        plain = bytes(buf[0:n])
        m = tx.protect_rtcp(buf, n)
        assert m == n + tag + 4 and bytes(buf[8:n]) != plain[8:]
        wire = bytes(buf[0:m])
        assert rx.unprotect_rtcp(buf, m) == n and bytes(buf[0:n]) == plain
        buf[0:m] = wire
        assert rx.unprotect_rtcp(buf, m) == -1
    assert rx.counters.replayed == 6
    buf, n = _rtcp()
    m = tx.protect_rtcp(buf, n)
    buf[m - 1] ^= 1
    assert rx.unprotect_rtcp(buf, m) == -1 and rx.counters.bad_auth == 2


def test_roundtrip_cm():
    _roundtrip(CM)


def test_roundtrip_gcm():
    _roundtrip(GCM)


def test_csrcs_and_extension_are_authenticated_not_encrypted():
    # V=2, X=1, CC=2; RFC 8285 one-byte extension of 2 words; 20-byte payload.
    hdr = bytes.fromhex("926001020000000311223344aaaaaaaabbbbbbbbbede000210ff220102000000")
    for profile_id in (CM, GCM):
        tx, rx = _pair(profile_id)
        buf = bytearray(len(hdr) + 20 + 16)
        buf[0 : len(hdr)] = hdr
        n = len(hdr) + 20
        assert srtp.rtp_header_len(buf, n) == len(hdr)
        m = tx.protect_rtp(buf, n)
        assert bytes(buf[0 : len(hdr)]) == hdr and bytes(buf[len(hdr) : n]) != bytes(20)
        wire = bytes(buf[0:m])
        buf[len(hdr) - 3] ^= 1  # an extension byte: the tag must catch it
        assert rx.unprotect_rtp(buf, m) == -1 and rx.counters.bad_auth == 1
        buf[0:m] = wire
        assert rx.unprotect_rtp(buf, m) == n and bytes(buf[len(hdr) : n]) == bytes(20)


def test_rollover_and_reorder():
    tx, rx = _pair(CM)
    wires = []
    for seq in (65533, 65534, 65535, 0, 1, 2):
        buf, n = _rtp(seq, payload=20)
        m = tx.protect_rtp(buf, n)
        wires.append(bytes(buf[0:m]))
    # 65533, then 0 (ROC 1) before the late 65534/65535 (ROC 0), then 1, 2.
    for i in (0, 3, 1, 2, 4, 5):
        buf = bytearray(wires[i])
        assert rx.unprotect_rtp(buf, len(buf)) == len(buf) - 10, i
    # A receiver told the ROC late (set_roc) accepts ROC-1 packets; a fresh one does not.
    late = srtp.SrtpSession(CM, KEY, SALT14, PROFILE)
    buf = bytearray(wires[4])
    assert late.unprotect_rtp(buf, len(buf)) == -1 and late.counters.bad_auth == 1
    late.set_roc(0x11223344, 1)
    buf = bytearray(wires[4])
    assert late.unprotect_rtp(buf, len(buf)) == len(buf) - 10


def test_replay_window_128():
    tx, rx = _pair(GCM)
    _, n = _rtp(0, payload=4)

    def receive(seq):
        # A sender protects any sequence number again to the same bytes (no replay check on
        # send), so packets are made on demand rather than kept.
        b, n = _rtp(seq, payload=4)
        return rx.unprotect_rtp(b, tx.protect_rtp(b, n))

    assert receive(199) == n
    for seq in range(72, 199):
        assert receive(seq) == n, seq
    assert receive(71) == -1  # 128 behind 199: outside the window
    for seq in (72, 150, 199):
        assert receive(seq) == -1
    assert rx.counters.replayed == 4


def test_rtcp_index_window():
    tx, rx = _pair(CM)
    wires = {}
    for i in range(1, 141):
        buf, n = _rtcp()
        m = tx.protect_rtcp(buf, n)
        if i in (1, 5, 20, 140):
            wires[i] = bytes(buf[0:m])
    assert wires[1][n : n + 4] == b"\x80\x00\x00\x01"  # the first index is 1, as in libsrtp
    for i in (140, 5, 20):  # 5 is 135 behind 140: outside the window
        buf = bytearray(wires[i])
        assert rx.unprotect_rtcp(buf, len(buf)) == (-1 if i == 5 else n), i
    assert rx.counters.replayed == 1


def test_ssrc_table_bound():
    small = PROFILE.derive(srtp_max_ssrcs=1)
    tx, rx = _pair(CM, small)
    buf, n = _rtp(1, ssrc=1)
    tx.protect_rtp(buf, n)
    buf2, _ = _rtp(1, ssrc=2)
    raises(ConfigError, tx.protect_rtp, buf2, n)
    assert rx.unprotect_rtp(buf, n + 10) == n
    tx2 = srtp.SrtpSession(CM, KEY, SALT14, small)
    m = tx2.protect_rtp(buf2, n)
    assert rx.unprotect_rtp(buf2, m) == -1 and rx.counters.ssrc_overflow == 1


def test_malformed_never_raises():
    for profile_id in (CM, GCM):
        _, rx = _pair(profile_id)
        bad = 0
        for n in range(0, 40):
            buf = bytearray(64)
            for i in range(64):
                buf[i] = (i * 31 + n) & 0xFF
            buf[0] = 0x90 if n & 1 else 0x8F  # extension / 15 CSRCs: lengths past the end
            assert rx.unprotect_rtp(buf, n) == -1
            assert rx.unprotect_rtcp(buf, n) == -1
            bad += 2
        c = rx.counters
        assert c.malformed + c.bad_auth + c.replayed == bad and c.malformed > 0


def test_bad_configuration():
    raises(ConfigError, srtp.SrtpSession, 0x0002, KEY, SALT14, PROFILE)
    raises(ConfigError, srtp.SrtpSession, GCM, KEY, SALT14, PROFILE)
    raises(ConfigError, srtp.SrtpSession, CM, KEY[:8], SALT14, PROFILE)
    buf = bytearray(40)
    s = srtp.SrtpSession(CM, KEY, SALT14, PROFILE)
    raises(ConfigError, s.protect_rtp, buf, 8)
    buf[0] = 0x80
    raises(BufferTooSmall, s.protect_rtp, buf, 31)
    raises(BufferTooSmall, s.protect_rtcp, buf, 27)
    assert s.protect_rtp(buf, 30) == 40


def test_index_edges():
    # ROC 2**32-1 wraps to 0 with the sequence number; SRTCP indices stop at 2**31-1.
    for profile_id in (CM, GCM):
        tx, rx = _pair(profile_id)
        tx.set_roc(0x11223344, 0xFFFFFFFF, 0x7FFFFFFE)
        rx.set_roc(0x11223344, 0xFFFFFFFF, 0x7FFFFFF0)
        wires = []
        for seq in (65534, 65535, 0, 1):
            buf, n = _rtp(seq, payload=20)
            wires.append(bytes(buf[0 : tx.protect_rtp(buf, n)]))
        # The late 65535 (ROC 2**32-1) after 0 (ROC 0) is accepted, then refused as a replay.
        for i, want in ((0, 32), (2, 32), (1, 32), (3, 32), (1, -1)):
            buf = bytearray(wires[i])
            assert rx.unprotect_rtp(buf, len(buf)) == want, i
        assert rx.counters.replayed == 1 and rx.counters.bad_auth == 0
        buf, n = _rtcp()
        m = tx.protect_rtcp(buf, n)
        t = m - 4 if profile_id == GCM else n
        assert bytes(buf[t : t + 4]) == b"\xff\xff\xff\xff"  # E flag + index 2**31-1
        assert rx.unprotect_rtcp(buf, m) == n
        buf, n = _rtcp()
        raises(StateError, tx.protect_rtcp, buf, n)


def test_twins_agree():
    if not compat.MICROPYTHON:
        skip("viper twins run only on MicroPython")
    a = bytearray(range(40))
    b = bytearray(range(40))
    for fn in (srtp._copy_viper, srtp._copy_pure):
        fn(a if fn is srtp._copy_viper else b, 3, bytes(range(200, 220)), 2, 9)
    assert a == b
    assert srtp._diff_viper(a, 0, b, 0, 40) == 0 and srtp._diff_pure(a, 0, b, 0, 40) == 0
    b[39] ^= 4
    assert srtp._diff_viper(a, 0, b, 0, 40) != 0 and srtp._diff_pure(a, 0, b, 0, 40) != 0


def _table_step(tables, r, seqs, idxs):
    """One random operation on each SSRC table; what each returned and wrote, to compare."""
    ssrc = (0x11223344, 0xFFFFFFFE, 0x00000001)[r % 3]  # three SSRCs for two rows
    op = (r >> 2) & 3
    jump = (1, 1, 1, 2, -3, 0, 40000, -70)[(r >> 4) & 7]
    seqs[ssrc] = (seqs.get(ssrc, 65500) + jump) & 0xFFFF
    idxs[ssrc] = max(0, idxs.get(ssrc, 3) + jump // 2)
    pkt = bytearray(32)
    pkt[0] = 0x80
    pkt[2:4] = seqs[ssrc].to_bytes(2, "big")
    pkt[8:12] = ssrc.to_bytes(4, "big")
    if op >= 2:
        pkt[4:8] = pkt[8:12]
        pkt[20:24] = (idxs[ssrc] | 0x80000000).to_bytes(4, "big")
    out = []
    for table in tables:
        buf = bytearray(pkt)
        try:
            if op == 0:
                got = table.send_rtp(buf, 24)
            elif op == 1:
                got = table.recv_rtp(buf, 24)
            elif op == 2:
                got = table.send_rtcp(buf, 20)
            else:
                got = table.recv_rtcp(buf, 20)
        except ConfigError:
            got = "full"
        if op & 1 and got > -128:  # let through (_REPLAYED, a const, is far below the window)
            got = max(-0x10000, min(0x10000, got))  # the byte table saturates SRTCP deltas
            if (r >> 7) & 1:  # else: as if the tag were bad
                got = (got, table.commit(got))
        out.append((got, bytes(buf), bytes(table.iv)))
    return out


def test_ssrc_tables_agree():
    """_IntTable (CPython's) is _ByteTable's pure twin: same results, bytes and IVs."""
    if not compat.MICROPYTHON:
        skip("the byte table's viper code runs only on MicroPython")
    for iv_len, pos, salt_len in ((16, 4, 14), (12, 2, 12)):
        salts = (bytes(range(1, 1 + salt_len)), bytes(range(40, 40 + salt_len)))
        tables = (
            srtp._ByteTable(2, salts[0], salts[1], iv_len, pos),
            srtp._IntTable(2, salts[0], salts[1], iv_len, pos),
        )
        for table in tables:
            table.set_roc(0xFFFFFFFE, 0xFFFFFFFF, 0x7FFFFFF0)
        seqs = {}
        idxs = {0xFFFFFFFE: 0x7FFFFFF8}
        r = 12345
        for step in range(700):
            r = (r * 1103515245 + 12345) & 0x3FFFFFFF
            a, b = _table_step(tables, r >> 8, seqs, idxs)
            assert a == b, (iv_len, step, a, b)


def _alloc_free(profile_id):
    tx, rx = _pair(profile_id)
    buf, n = _rtp(100)
    plain = bytes(buf[0:n])

    def one(tx, rx, buf, n):
        s = ((buf[2] << 8) | buf[3]) + 1
        buf[2] = (s >> 8) & 0xFF
        buf[3] = s & 0xFF
        return rx.unprotect_rtp(buf, tx.protect_rtp(buf, n))

    assert one(tx, rx, buf, n) == n
    assert assert_no_alloc(one, tx, rx, buf, n) == n
    assert bytes(buf[12:n]) == plain[12:]

    def one_rtcp(tx, rx, buf, n):
        return rx.unprotect_rtcp(buf, tx.protect_rtcp(buf, n))

    rbuf, rn = _rtcp()
    assert assert_no_alloc(one_rtcp, tx, rx, rbuf, rn) == rn


def test_alloc_free_cm():
    _alloc_free(CM)


def test_alloc_free_gcm():
    _alloc_free(GCM)
