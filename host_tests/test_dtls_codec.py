"""DTLS record and handshake codecs (RFC 6347 §4.1, §4.2.2; RFC 5246 §7.4; RFC 5764)."""
# mptest-heap: 196608 (importing rtc_micro.dtls loads the connection and crypto modules)

from rtc_micro.dtls import handshake as hs
from rtc_micro import memory
from rtc_micro.dtls import record as rec


def test_record_header_round_trip():
    buf = bytearray(32)
    rec.push_record_header(buf, 3, rec.CT_HANDSHAKE, 1, 0x0102030405, 7)
    assert bytes(buf[3:16]) == bytes.fromhex("16fefd0001000102030405" + "0007")
    assert rec.pull_record(buf, 3, 3 + 13 + 7) == 7
    assert rec.record_epoch(buf, 3) == 1
    assert rec.record_seq(buf, 3) == 0x0102030405


def test_record_rejects_truncated_and_bad_headers():
    buf = bytearray(20)
    rec.push_record_header(buf, 0, rec.CT_ALERT, 0, 1, 7)
    assert rec.pull_record(buf, 0, 19) == -1  # payload cut short
    assert rec.pull_record(buf, 0, 12) == -1  # header cut short
    buf[0] = 99
    assert rec.pull_record(buf, 0, 20) == -1  # unknown content type
    buf[0] = rec.CT_ALERT
    buf[2] = 0xFC
    assert rec.pull_record(buf, 0, 20) == -1  # not DTLS 1.0/1.2
    buf[2] = 0xFF
    assert rec.pull_record(buf, 0, 20) == 7  # DTLS 1.0 record version (ClientHello) accepted


def test_replay_window():
    w = rec.ReplayWindow()
    assert w.check(0)
    w.update(0)
    assert not w.check(0)
    w.update(5)
    assert w.check(3) and not w.check(5)
    w.update(3)
    assert not w.check(3)
    w.update(200)
    assert not w.check(136) and w.check(137) and w.check(199) and not w.check(200)
    w.update(199)
    assert not w.check(199) and w.check(198)


def test_handshake_header_round_trip():
    buf = bytearray(12)
    hs.push_header(buf, 0, hs.CERTIFICATE, 0x012345, 7, 0x000100, 0x000200)
    assert bytes(buf) == bytes.fromhex("0b012345" "0007" "000100" "000200")
    assert hs.pull_length(buf, 0) == 0x012345 and hs.pull_seq(buf, 0) == 7
    assert hs.pull_frag_off(buf, 0) == 0x100 and hs.pull_frag_len(buf, 0) == 0x200


def test_client_hello_round_trip():
    body = hs.client_hello(bytes(range(32)), b"cookie!", (hs.SRTP_AEAD_AES_128_GCM, 1))
    h = hs.pull_client_hello(body, 0, len(body))
    assert h.version == 0xFEFD and h.random == bytes(range(32)) and h.cookie == b"cookie!"
    assert h.suites == [hs.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]
    assert h.groups == [hs.GROUP_X25519, hs.GROUP_SECP256R1]
    assert h.sig_algs == [hs.ECDSA_SECP256R1_SHA256]
    assert h.srtp_profiles == [7, 1] and h.ems and h.reneg_info == b""
    ext_start = 2 + 32 + 1 + (1 + 7) + (2 + 2) + 2  # version random sid cookie suites comp
    for cut in range(len(body)):
        if cut != ext_start:  # a ClientHello without extensions is valid
            assert hs.pull_client_hello(body, 0, cut) is None
    assert hs.pull_client_hello(body + b"\x00", 0, len(body) + 1) is None


def test_client_hello_from_openssl():
    # A DTLS 1.2 ClientHello body as `openssl s_client -dtls1_2` 3.0 sends it (trimmed suites).
    body = bytes.fromhex(
        "fefd" + "11" * 32 + "00" + "00" + "0004c02bc02c" + "0100"
        + "001d" + "000a00060004001d0017" + "000b00020100" + "00170000" + "000e00050002000100"
    )
    h = hs.pull_client_hello(body, 0, len(body))
    assert h is not None and h.cookie == b"" and h.suites == [0xC02B, 0xC02C]
    assert h.groups == [29, 23] and h.srtp_profiles == [1] and h.ems and h.reneg_info is None


def test_duplicate_extension_rejected():
    ext = "00170000" "00170000"
    body = bytes.fromhex("fefd" + "00" * 32 + "00" + "00" + "0002c02b" + "0100" + "0008" + ext)
    assert hs.pull_client_hello(body, 0, len(body)) is None


def test_server_hello_and_verify_request():
    body = hs.server_hello(b"\x22" * 32, 0xC02B, hs.SRTP_AES128_CM_HMAC_SHA1_80, True)
    h = hs.pull_server_hello(body, 0, len(body))
    assert h.suites == [0xC02B] and h.srtp_profiles == [1] and h.ems and h.random == b"\x22" * 32
    hvr = hs.hello_verify_request(b"\x01\x02\x03")
    assert hvr == bytes.fromhex("feff03010203")
    assert hs.pull_hello_verify_request(hvr, 0, len(hvr)) == b"\x01\x02\x03"
    assert hs.pull_hello_verify_request(hvr, 0, 5) is None


def test_certificate_and_key_exchange_messages():
    body = hs.certificate((b"abc", b"de"))
    assert body == bytes.fromhex("00000b" "000003616263" "0000026465")
    assert hs.pull_certificate(body, 0, len(body)) == [b"abc", b"de"]
    assert hs.pull_certificate(b"\x00\x00\x00", 0, 3) == []
    assert hs.pull_certificate(body, 0, len(body) - 1) is None
    params = hs.ecdh_params(hs.GROUP_X25519, b"\x09" * 32)
    ske = hs.server_key_exchange(params, b"\x30\x02\x01\x01")
    k = hs.pull_server_key_exchange(ske, 0, len(ske))
    assert k.group == 29 and k.public == b"\x09" * 32 and k.params == params
    assert k.sig_alg == 0x0403 and k.signature == b"\x30\x02\x01\x01"
    cr = hs.certificate_request()
    assert hs.pull_certificate_request(cr, 0, len(cr)) == [0x0403]
    cke = hs.client_key_exchange(b"\x04" * 65)
    assert hs.pull_client_key_exchange(cke, 0, len(cke)) == b"\x04" * 65
    cv = hs.certificate_verify(b"sig")
    assert hs.pull_certificate_verify(cv, 0, len(cv)) == b"sig"
    assert hs.pull_certificate_verify(b"\x04\x01\x00\x01s", 0, 5) is None  # RSA not accepted


def test_message_has_single_fragment_header():
    m = hs.message(hs.FINISHED, 5, b"\xaa" * 12)
    assert m[0:12] == bytes.fromhex("1400000c" "0005" "000000" "00000c") and m[12:] == b"\xaa" * 12


def test_copy_into_twins_agree():
    src = bytes(range(200))
    for fn in (memory.copy_into, memory._copy_pure):
        dst = bytearray(64)
        fn(dst, 3, src, 100, 50)
        assert bytes(dst[3:53]) == src[100:150] and dst[0:3] == b"\x00" * 3 and dst[53] == 0
    dst = bytearray(8)
    memory.copy_into(dst, 0, memoryview(bytearray(src)), 7, 8)  # memoryview sources too
    assert bytes(dst) == src[7:15]
