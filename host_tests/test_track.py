# mptest-heap: 196608 (sdp, track, media, rtcp and the packetizers load as .mpy into the heap)
"""Track negotiation (rtc_micro/track.py): codec choice, H.264 profiles, directions, SDP lines."""

import boards
from host_tests.support import raises
from rtc_micro import sdp
from rtc_micro.errors import ConfigError, StateError
from rtc_micro.track import Track, _h264_ok

_CHROMIUM = "host_tests/fixtures/chromium-156-offer-datachannel-audio-video.sdp"
_FIREFOX = "host_tests/fixtures/firefox-128-offer-audio-datachannel.sdp"


def _fixture(path):
    with open(path) as f:
        return f.read()


def _local():
    return sdp.LocalTransport("dev1", "devicepassword0123456789", "AB:CD", "192.168.4.1", 5000)


def _answer(offer_text, *tracks):
    return sdp.parse(sdp.create_answer(sdp.parse(offer_text), _local(), tracks))


def test_audio_takes_the_offers_first_choice_among_ours():
    mic = Track("audio", codecs=("pcmu", "opus"))
    a = _answer(_fixture(_CHROMIUM), mic)
    m = a.section(mic.mid)
    assert mic.codec == "opus" and mic.pt == 111 and mic.clock_rate == 48000
    assert m.fmts == ["111"] and m.rtpmap("111") == "opus/48000/2"
    assert m.direction == "sendonly" and mic.send and not mic.recv  # Chromium offers sendrecv
    ssrc = int.from_bytes(mic.ssrc, "big")
    assert m.ssrcs() == [ssrc]
    assert m.value("msid:") == "rtc_micro " + mic.track_id
    assert "%d cname:rtc_micro" % ssrc in m.values("ssrc:")
    # Only the extensions we write, with the offer's ids.
    uris = [u for _i, u in m.extmap()]
    assert sorted(uris) == sorted(["urn:ietf:params:rtp-hdrext:sdes:mid",
                                   "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"])
    assert mic.mid_id == dict((u, i) for i, u in sdp.parse(_fixture(_CHROMIUM)).section(
        mic.mid).extmap())["urn:ietf:params:rtp-hdrext:sdes:mid"]


def test_pcmu_only_device_and_firefox_offer():
    mic = Track("audio", codecs=("pcmu",), direction="sendrecv")
    text = _fixture(_FIREFOX)
    a = _answer(text, mic)
    m = a.section(mic.mid)
    assert (mic.codec, mic.pt, mic.clock_rate) == ("pcmu", 0, 8000)
    assert m.fmts == ["0"] and m.rtpmap("0") == "PCMU/8000" and m.fmtp("0") is None
    offered = sdp.parse(text).section(mic.mid).direction or "sendrecv"
    assert m.direction == {"sendrecv": "sendrecv", "sendonly": "recvonly",
                           "recvonly": "sendonly"}[offered]


def test_h264_needs_mode_1_and_a_baseline_family_profile():
    cam = Track("video", codecs=("h264",))
    a = _answer(_fixture(_CHROMIUM), cam)
    m = a.section(cam.mid)
    offer = sdp.parse(_fixture(_CHROMIUM)).section(cam.mid)
    pt = str(cam.pt)
    assert cam.codec == "h264" and cam.clock_rate == 90000 and m.fmts == [pt]
    fmtp = offer.fmtp(pt)
    assert "packetization-mode=1" in fmtp
    plid = fmtp.split("profile-level-id=")[1][0:6]
    assert plid[0:2] == "42" or int(plid[2:4], 16) & 0x40
    assert m.fmtp(pt) == "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=" + plid
    # The first offered payload type that qualifies: none before it is H.264 mode 1.
    for earlier in offer.fmts[0:offer.fmts.index(pt)]:
        if offer.codec(earlier) == "h264":
            assert "packetization-mode=1" not in (offer.fmtp(earlier) or "")
    fb = m.rtcp_fb(pt)
    assert "nack" in fb and "nack pli" in fb and "ccm fir" in fb and "transport-cc" not in fb
    assert _h264_ok({"packetization-mode": "1", "profile-level-id": "42e01f"})
    assert _h264_ok({"packetization-mode": "1", "profile-level-id": "4d401f"})  # cs1 set
    assert not _h264_ok({"packetization-mode": "1", "profile-level-id": "64001f"})  # High
    assert not _h264_ok({"profile-level-id": "42e01f"})  # mode 0
    assert not _h264_ok({"packetization-mode": "1", "profile-level-id": "zz"})


def test_no_common_codec_is_answered_inactive_with_a_reason():
    cam = Track("video", codecs=("h264",))
    text = _fixture(_CHROMIUM)
    vp8_only = text.replace("H264/90000", "X-NOPE/90000")
    a = _answer(vp8_only, cam)
    video = [m for m in a.media if m.kind == "video"][0]
    assert video.direction == "inactive" and cam.mid is None
    assert "none of h264" in cam.reason


def test_two_tracks_of_one_kind_take_two_sections():
    text = _fixture(_CHROMIUM)
    i = text.index("m=audio")
    j = text.index("m=", i + 2)
    second = text[i:j].replace("a=mid:0", "a=mid:9")
    two = text.replace("a=group:BUNDLE 0", "a=group:BUNDLE 0 9") + second
    a1 = Track("audio")
    a2 = Track("audio", codecs=("pcmu",))
    ans = _answer(two, a1, a2)
    assert (a1.mid, a2.mid) == ("0", "9")
    assert ans.section("9").fmts == ["0"]


def test_device_offer_lists_every_codec_and_accepts_the_answer():
    cam = Track("video", codecs=("h264", "vp8"))
    local = _local()
    offer = sdp.parse(sdp.create_offer(local, (cam,)))
    m = offer.section(cam.mid)
    assert m.fmts == ["102", "96"] and m.direction == "sendonly"
    assert "packetization-mode=1" in m.fmtp("102")
    # A browser's answer picking VP8, receiving.
    answer = sdp.parse(
        "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n"
        "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:0\r\n"
        "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\na=recvonly\r\n"
        "a=rtpmap:96 VP8/90000\r\na=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid\r\n")
    cam.accept(answer.section("1"))
    assert (cam.codec, cam.pt, cam.send, cam.recv, cam.mid_id) == ("vp8", 96, True, False, 1)
    cam.accept(None)
    assert not cam.send and "rejected" in cam.reason


def test_bad_track_configuration_says_what_to_change():
    assert "opus" in str(raises(ConfigError, Track, "video", ("opus",)))
    assert "audio" in str(raises(ConfigError, Track, "data"))
    assert "direction" in str(raises(ConfigError, Track, "audio", None, "inactive"))


def test_writes_before_the_connection_are_counted_not_sent():
    mic = Track("audio", codecs=("pcmu",))
    _answer(_fixture(_CHROMIUM), mic)
    mic.attach(boards.load("esp32"), 0)
    assert mic.sender is not None and mic.receiver is None
    assert mic.write_sample(bytes(160), 0) is False and mic.dropped == 1
    mic.ready = True
    assert mic.write_sample(bytes(160), 0) is True and mic.sender.packets == 1
    raises(StateError, mic.write_frame, bytes(10), 0)
    # An audio sender is small: a few slots (profile audio_*), not the video NACK history.
    p = boards.load("esp32")
    assert len(mic.sender.slab) == p.audio_history * p.audio_slot_bytes
