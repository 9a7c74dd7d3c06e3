"""SDP parsing and JSEP answers/offers (rtc_micro/sdp.py) against real browser offers."""

import boards
from host_tests.support import raises
from rtc_micro import sdp
from rtc_micro.errors import ConfigError

_FP = ":".join(["AB"] * 32)
_PROFILE = boards.load("esp32")


def _fixture(name):
    """The fixture's text with its CRLF line ends kept (text mode would translate them)."""
    try:
        f = open("host_tests/fixtures/" + name, "rb")
    except OSError:  # pytest started from another directory
        import os

        f = open(os.path.join(os.path.dirname(__file__), "fixtures", name), "rb")
    try:
        return str(f.read(), "utf-8")
    finally:
        f.close()


def _local(setup="active", host="192.168.4.1", port=40000):
    return sdp.LocalTransport("dev1", "0123456789abcdefghijkl", _FP, host, port, setup=setup,
                              max_message_size=_PROFILE.max_message_size)


def _lines(text):
    return text.split("\r\n")


def test_parse_chromium_datachannel_offer():
    o = sdp.parse(_fixture("chromium-156-offer-datachannel.sdp"))
    assert o.origin_id == "1175385925099134166" and o.origin_version == "2"
    assert o.bundle() == ["0"]
    assert len(o.media) == 1
    m = o.media[0]
    assert m.is_datachannel() and not m.is_rtp()
    assert (m.kind, m.port, m.proto, m.fmts) == ("application", 9, "UDP/DTLS/SCTP",
                                                  ["webrtc-datachannel"])
    assert m.mid == "0" and m.connection == "0.0.0.0"
    assert m.ice_ufrag == "zzMO" and m.ice_pwd == "d6Q2OVSUrNEwj742TwczMAw1"
    assert m.ice_options == "trickle"
    assert m.fingerprint_alg == "sha-256" and m.fingerprint.startswith("E5:68:B0")
    assert len(m.fingerprint) == 95
    assert m.setup == "actpass"
    assert m.sctp_port == 5000 and m.max_message_size == 262144
    assert len(m.candidates) == 2
    c = m.candidates[0]
    assert c.ip.endswith(".local") and c.port == 60705 and c.typ == "host"
    assert c.transport == "udp" and c.priority == 2113937151 and c.component == 1
    assert c.extra == "generation 0 network-cost 999"
    assert o.transport() is m and o.datachannel() is m


def test_parse_chromium_audio_video_offer():
    o = sdp.parse(_fixture("chromium-156-offer-datachannel-audio-video.sdp"))
    assert o.bundle() == ["0", "1", "2"]
    a, v, d = o.media
    assert (a.kind, v.kind, d.kind) == ("audio", "video", "application")
    assert a.is_rtp() and a.rtcp_mux and a.rtcp_rsize and a.direction == "recvonly"
    assert a.fmts[0] == "111" and a.codec("111") == "opus" and a.rtpmap("0") == "PCMU/8000"
    assert a.fmtp("111") == "minptime=10;useinbandfec=1"
    assert a.rtcp_fb("111") == ["transport-cc"]
    assert (1, "urn:ietf:params:rtp-hdrext:ssrc-audio-level") in a.extmap()
    assert len(v.fmts) == 34 and v.codec("96") == "vp8" and v.fmtp("97") == "apt=96"
    assert "nack pli" in v.rtcp_fb("96")
    assert d.is_datachannel() and d.mid == "2"
    assert o.transport() is a  # the tagged section carries the one transport
    assert o.datachannel() is d


def test_parse_firefox_offer_session_level_fingerprint():
    o = sdp.parse(_fixture("firefox-128-offer-audio-datachannel.sdp"))
    a, d = o.media
    # Firefox writes a=fingerprint once at session level; every section inherits it.
    assert a.fingerprint == d.fingerprint and a.fingerprint.startswith("3C:4A")
    assert d.ice_options == "trickle"
    assert a.extmap()[1] == (2, "urn:ietf:params:rtp-hdrext:csrc-audio-level")
    assert a.ssrcs() == [2655508255]
    assert d.direction == "sendrecv" and d.max_message_size == 1073741823
    assert [c.transport for c in d.candidates] == ["udp", "tcp"]
    assert d.end_of_candidates
    assert sdp.remote_max_message_size(d, _PROFILE.max_message_size) == _PROFILE.max_message_size


def test_answer_chromium_datachannel():
    o = sdp.parse(_fixture("chromium-156-offer-datachannel.sdp"))
    text = sdp.create_answer(o, _local(), sess_id="42", version=3)
    lines = _lines(text)
    assert lines[0] == "v=0" and lines[1] == "o=- 42 3 IN IP4 192.168.4.1"
    assert "a=ice-lite" in lines and "a=group:BUNDLE 0" in lines
    assert "m=application 40000 UDP/DTLS/SCTP webrtc-datachannel" in lines
    assert "a=setup:active" in lines and "a=mid:0" in lines
    assert "a=fingerprint:sha-256 " + _FP in lines
    assert "a=sctp-port:5000" in lines
    assert "a=max-message-size:%d" % _PROFILE.max_message_size in lines
    assert "a=candidate:1 1 udp 2130706431 192.168.4.1 40000 typ host" in lines
    assert lines.index("a=end-of-candidates") > lines.index("a=mid:0")
    # Nothing of the offer's that the device does not do is echoed.
    for word in ("trickle", "extmap-allow-mixed", "msid-semantic", "actpass", ".local"):
        assert word not in text, word
    assert text.endswith("\r\n")
    # The answer parses back into what we meant.
    a = sdp.parse(text)
    assert a.ice_lite and a.datachannel().sctp_port == 5000
    assert a.transport().ice_ufrag == "dev1" and a.transport().candidates[0].port == 40000


def test_answer_passive_and_offer_roles():
    o = sdp.parse(_fixture("chromium-156-offer-datachannel.sdp"))
    assert "a=setup:passive" in _lines(sdp.create_answer(o, _local("passive")))
    o.media[0].setup = "active"
    assert "a=setup:passive" in _lines(sdp.create_answer(o, _local("active")))
    o.media[0].setup = "passive"
    assert "a=setup:active" in _lines(sdp.create_answer(o, _local("passive")))
    o.media[0].setup = "holdconn"
    e = raises(ConfigError, sdp.create_answer, o, _local())
    assert "holdconn" in str(e)
    assert sdp.dtls_role("active", "actpass") == "client"
    assert sdp.dtls_role("passive", "actpass") == "server"
    assert sdp.dtls_role("actpass", "active") == "server"
    assert sdp.dtls_role("actpass", "passive") == "client"


def test_answer_unserved_media_inactive_in_bundle():
    o = sdp.parse(_fixture("chromium-156-offer-datachannel-audio-video.sdp"))
    text = sdp.create_answer(o, _local())
    a = sdp.parse(text)
    assert a.bundle() == ["0", "1", "2"]
    au, vi, dc = a.media
    assert au.port == 40000 and au.direction == "inactive" and au.fmts == ["111"]
    assert au.rtpmap("111") == "opus/48000/2" and len(au.values("rtpmap:")) == 1 and au.rtcp_mux
    assert vi.direction == "inactive" and vi.fmts == ["96"]
    assert dc.is_datachannel() and dc.mid == "2"
    # Only the first (tagged) section carries the candidate.
    assert len(au.candidates) == 1 and not vi.candidates and not dc.candidates
    assert "extmap" not in text and "rtcp-fb" not in text and "fmtp" not in text


def test_answer_unserved_media_rejected():
    o = sdp.parse(_fixture("chromium-156-offer-datachannel-audio-video.sdp"))
    text = sdp.create_answer(o, _local(), unserved="reject")
    lines = _lines(text)
    assert "m=audio 0 UDP/TLS/RTP/SAVPF 111" in lines and "m=video 0 UDP/TLS/RTP/SAVPF 96" in lines
    a = sdp.parse(text)
    assert a.bundle() == ["2"]
    assert a.transport() is a.media[2] and len(a.media[2].candidates) == 1
    assert a.media[0].mid == "0" and a.media[0].ice_ufrag is None  # rejected: no transport


def test_answer_firefox_offer():
    o = sdp.parse(_fixture("firefox-128-offer-audio-datachannel.sdp"))
    a = sdp.parse(sdp.create_answer(o, _local()))
    assert a.bundle() == ["0", "1"]
    assert a.media[0].direction == "inactive" and a.media[0].rtpmap("109") == "opus/48000/2"
    assert a.media[1].sctp_port == 5000
    assert a.media[1].max_message_size == _PROFILE.max_message_size


def test_offer_without_anything_servable_names_what_is_missing():
    text = _fixture("firefox-128-offer-audio-datachannel.sdp")
    audio_only = text[0:text.index("m=application")]
    e = raises(ConfigError, sdp.create_answer, sdp.parse(audio_only), _local())
    assert "no m=application UDP/DTLS/SCTP section" in str(e)
    assert "no media the device can send" in str(e)


class _Pcmu:
    """A stand-in media capability: sends PCMU when offered."""

    kind = "audio"

    def answer(self, section):
        if "0" not in section.fmts:
            return None
        return sdp.MediaAnswer(["0"], "sendonly", ["a=rtpmap:0 PCMU/8000", "a=ssrc:1234 cname:d"])

    def offer(self, mid):
        return sdp.MediaAnswer(["0"], "sendonly", ["a=rtpmap:0 PCMU/8000"])


def test_media_capability_hook():
    text = _fixture("firefox-128-offer-audio-datachannel.sdp")
    audio_only = sdp.parse(text[0:text.index("m=application")])
    a = sdp.parse(sdp.create_answer(audio_only, _local(), capabilities=(_Pcmu(),)))
    m = a.media[0]
    assert m.direction == "sendonly" and m.fmts == ["0"] and m.ssrcs() == [1234] and m.rtcp_mux
    assert a.bundle() == ["0"] and m.setup == "active"
    off = sdp.parse(sdp.create_offer(_local(), capabilities=(_Pcmu(),)))
    assert [x.kind for x in off.media] == ["application", "audio"]
    assert off.bundle() == ["0", "1"] and off.media[1].rtpmap("0") == "PCMU/8000"


def test_offer_errors_name_what_is_missing():
    text = _fixture("chromium-156-offer-datachannel.sdp")
    no_fp = "\r\n".join([x for x in text.split("\r\n") if not x.startswith("a=fingerprint")])
    e = raises(ConfigError, sdp.create_answer, sdp.parse(no_fp), _local())
    assert "a=fingerprint" in str(e)
    no_ice = "\r\n".join([x for x in text.split("\r\n") if not x.startswith("a=ice-pwd")])
    e = raises(ConfigError, sdp.create_answer, sdp.parse(no_ice), _local())
    assert "a=ice-ufrag/a=ice-pwd" in str(e)
    no_mid = text.replace("a=mid:0\r\n", "")
    assert "a=mid" in str(raises(ConfigError, sdp.create_answer, sdp.parse(no_mid), _local()))
    assert "v=0" in str(raises(ConfigError, sdp.parse, "s=-\r\n"))
    raises(ConfigError, sdp.parse, "v=0\r\nnonsense\r\n")
    raises(ConfigError, sdp.parse, b"v=0\r\nm=audio x RTP/AVP 0\r\n")
    raises(ConfigError, sdp.parse, b"\xff\xfe")
    raises(ConfigError, sdp.LocalTransport, "u", "short", _FP, "1.2.3.4", 1)
    raises(ConfigError, sdp.LocalTransport, "user", "p" * 22, _FP, "1.2.3.4", 1, "actpass")


def test_unknown_attributes_are_ignored_and_never_echoed():
    text = _fixture("chromium-156-offer-datachannel.sdp")
    text = text.replace("a=mid:0", "a=mid:0\r\na=x-vendor-thing:42\r\na=sctpmap-ish")
    a = sdp.create_answer(sdp.parse(text), _local())
    assert "x-vendor" not in a and "sctpmap" not in a


def test_truncated_offers_never_raise_anything_but_config_error():
    text = _fixture("chromium-156-offer-datachannel.sdp")
    local = _local()
    answered = 0
    for n in range(0, len(text) + 1, 7):
        try:
            sdp.create_answer(sdp.parse(text[0:n]), local)
            answered += 1
        except ConfigError:
            pass
    assert answered > 0  # once the data-channel section is in, an answer exists


def test_device_offer_and_browser_answer():
    local = _local()
    text = sdp.create_offer(local, sess_id="7")
    o = sdp.parse(text)
    m = o.media[0]
    assert o.ice_lite and m.setup == "actpass" and m.mid == "0" and m.is_datachannel()
    assert "a=candidate:1 1 udp 2130706431 192.168.4.1 40000 typ host" in _lines(text)
    # A browser's answer to it (Chromium answers actpass with active).
    answer = ("v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n"
              "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\n"
              "a=ice-ufrag:abcd\r\na=ice-pwd:0123456789012345678901\r\n"
              "a=fingerprint:sha-256 " + _FP + "\r\na=setup:active\r\na=mid:0\r\n"
              "a=sctp-port:5000\r\na=max-message-size:262144\r\n")
    tp = sdp.check_answer(sdp.parse(answer))
    assert sdp.dtls_role("actpass", tp.setup) == "server"
    bad = sdp.parse(answer.replace("setup:active", "setup:actpass"))
    assert "active or passive" in str(raises(ConfigError, sdp.check_answer, bad))


def test_renegotiation_keeps_mids_and_answers_new_sections():
    text = _fixture("chromium-156-offer-datachannel.sdp")
    first = sdp.parse(sdp.create_answer(sdp.parse(text), _local(), sess_id="9", version=1))
    # The browser adds an audio transceiver later: a new m= section, a new offer.
    audio = ("m=audio 9 UDP/TLS/RTP/SAVPF 0\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\na=recvonly\r\n"
             "a=rtcp-mux\r\na=rtpmap:0 PCMU/8000\r\na=ice-ufrag:zzMO\r\n"
             "a=ice-pwd:d6Q2OVSUrNEwj742TwczMAw1\r\na=setup:actpass\r\n")
    text2 = text.replace("a=group:BUNDLE 0", "a=group:BUNDLE 0 1") + "\r\n" + audio
    second = sdp.parse(sdp.create_answer(sdp.parse(text2), _local(), sess_id="9", version=2,
                                         capabilities=(_Pcmu(),)))
    assert second.origin_id == first.origin_id and second.origin_version == "2"
    assert [m.mid for m in second.media] == ["0", "1"]
    assert second.media[1].direction == "sendonly"
    assert second.media[1].fingerprint == _FP  # same transport, same certificate


def test_legacy_dtls_sctp_offer():
    text = _fixture("chromium-156-offer-datachannel.sdp")
    text = text.replace("UDP/DTLS/SCTP webrtc-datachannel", "DTLS/SCTP 5000")
    text = text.replace("a=sctp-port:5000", "a=sctpmap:5000 webrtc-datachannel 1024")
    o = sdp.parse(text)
    assert o.media[0].is_datachannel() and o.media[0].sctp_port == 5000
    lines = _lines(sdp.create_answer(o, _local()))
    assert "m=application 40000 DTLS/SCTP 5000" in lines
    assert "a=sctpmap:5000 webrtc-datachannel 65535" in lines


def test_ipv6_host_and_max_message_size_rules():
    o = sdp.parse(_fixture("chromium-156-offer-datachannel.sdp"))
    text = sdp.create_answer(o, _local(host="fe80::1"))
    assert "c=IN IP6 fe80::1" in _lines(text)
    m = o.media[0]
    assert sdp.remote_max_message_size(m, 65536) == 65536
    m.max_message_size = None
    assert sdp.remote_max_message_size(m, 1 << 20) == 65536
    m.max_message_size = 0
    assert sdp.remote_max_message_size(m, 1000) == 1000
    assert len(sdp.session_id()) > 5
