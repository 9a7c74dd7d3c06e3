"""SDP (RFC 8866) for WebRTC: parse browser offers and answers, build JSEP answers and offers.

The device is an ICE-lite endpoint (RFC 8445 §2.5) with one BUNDLE transport (RFC 8843), rtcp-mux,
and by default the DTLS client (`a=setup:active`, RFC 8842). `parse()` turns SDP text into a
`SessionDescription`; `create_answer()` answers an offer per JSEP (RFC 8829 §5.3);
`create_offer()` starts a device-initiated session. Audio and video are answered by media
capabilities (objects with `kind`, `answer(section)` and `offer(mid)`, see `MediaAnswer`): with
none, offered media is answered `inactive` (or rejected with port 0) and never carries media.

Runs at setup time only: allocation is not a concern here, clarity is.
"""

from rtc_micro.compat import urandom
from rtc_micro.errors import ConfigError

DATACHANNEL_PROTOS = ("UDP/DTLS/SCTP", "TCP/DTLS/SCTP", "DTLS/SCTP")
DEFAULT_SCTP_PORT = 5000  # RFC 8841 §5: the default when a=sctp-port is absent
DEFAULT_MAX_MESSAGE_SIZE = 65536  # RFC 8841 §6.1: assumed when a=max-message-size is absent
HOST_PRIORITY = 2130706431  # RFC 8445 §5.1.2.1: type pref 126, local pref 65535, component 1
DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
_REVERSE = {"sendrecv": "sendrecv", "sendonly": "recvonly", "recvonly": "sendonly",
            "inactive": "inactive"}


class Candidate:
    """One `a=candidate` line (RFC 8839 §5.1); extensions after `typ` are kept in `extra`."""

    def __init__(self, foundation, component, transport, priority, ip, port, typ, extra=""):
        self.foundation = foundation
        self.component = component
        self.transport = transport
        self.priority = priority
        self.ip = ip
        self.port = port
        self.typ = typ
        self.extra = extra

    def line(self):
        s = "a=candidate:%s %d %s %d %s %d typ %s" % (
            self.foundation, self.component, self.transport, self.priority, self.ip, self.port,
            self.typ)
        return s + " " + self.extra if self.extra else s


def parse_candidate(value):
    """`a=candidate:` value (without the prefix) -> Candidate, or None when malformed."""
    f = value.split()
    if len(f) < 8 or f[6] != "typ":
        return None
    try:
        return Candidate(f[0], int(f[1]), f[2].lower(), int(f[3]), f[4], int(f[5]), f[7],
                         " ".join(f[8:]))
    except ValueError:
        return None


class MediaSection:
    """One m= section. ICE/DTLS/SCTP fields are parsed at once; per-payload-type attributes
    (rtpmap, fmtp, rtcp-fb, extmap, ssrc) are read on demand from the SDP text, because a
    browser's video section lists dozens of codecs that a small heap should not hold as dicts.
    """

    def __init__(self, kind, port, proto, fmts, text, start):
        self.kind = kind  # "audio", "video", "application", ...
        self.port = port  # 0: rejected (or bundle-only)
        self.proto = proto
        self.fmts = fmts  # list of str (payload types, or "webrtc-datachannel")
        self._text = text
        self._start = start  # offset of this section's m= line in the SDP text
        self._end = len(text)  # offset of the next m= line
        self.mid = None
        self.direction = None  # one of DIRECTIONS, None when absent (means sendrecv)
        self.connection = None  # c= address
        self.rtcp_mux = False
        self.rtcp_rsize = False
        self.bundle_only = False
        self.ice_ufrag = None
        self.ice_pwd = None
        self.ice_options = None
        self.ice_lite = False
        self.fingerprint = None  # "AB:CD:..." (upper case)
        self.fingerprint_alg = None  # "sha-256"
        self.setup = None  # actpass / active / passive / holdconn
        self.sctp_port = None
        self.max_message_size = None  # None: absent (65536 assumed); 0: no limit
        self.candidates = []
        self.end_of_candidates = False

    def is_datachannel(self):
        return self.kind == "application" and self.proto in DATACHANNEL_PROTOS

    def is_rtp(self):
        return "RTP/" in self.proto

    def values(self, prefix):
        """What follows `a=<prefix>` on each line of this section that starts so, in order."""
        out = []
        key = "a=" + prefix
        t = self._text
        i = self._start
        end = self._end
        while True:
            i = t.find(key, i, end)
            if i < 0:
                return out
            if i == 0 or t[i - 1] == "\n":
                j = t.find("\n", i, end)
                out.append(t[i + len(key):j if j >= 0 else end].rstrip())
            i += len(key)

    def value(self, prefix):
        """The first of `values(prefix)`, or None."""
        v = self.values(prefix)
        return v[0] if v else None

    def rtpmap(self, pt):
        """The a=rtpmap encoding of payload type `pt` (str), e.g. "opus/48000/2", or None."""
        return self.value("rtpmap:" + pt + " ")

    def fmtp(self, pt):
        return self.value("fmtp:" + pt + " ")

    def rtcp_fb(self, pt):
        """The a=rtcp-fb values of `pt`: ["nack", "nack pli", ...]."""
        return self.values("rtcp-fb:" + pt + " ")

    def codec(self, pt):
        """The encoding name of payload type `pt` in lower case ("opus"), or None."""
        m = self.rtpmap(pt)
        return m.split("/")[0].lower() if m else None

    def extmap(self):
        """[(id, uri)] of the a=extmap lines (RFC 8285; a "/direction" suffix is dropped)."""
        out = []
        for v in self.values("extmap:"):
            ident, uri = _split2(v)
            try:
                out.append((int(ident.split("/")[0]), uri.split(" ")[0]))
            except ValueError:
                pass
        return out

    def ssrcs(self):
        """The distinct SSRCs of the a=ssrc lines, in order."""
        out = []
        for v in self.values("ssrc:"):
            try:
                ssrc = int(_split2(v)[0])
            except ValueError:
                continue
            if ssrc not in out:
                out.append(ssrc)
        return out


class SessionDescription:
    """A parsed SDP: session-level fields and `media`, a list of MediaSection."""

    def __init__(self):
        self.origin_id = None
        self.origin_version = None
        self.ice_lite = False
        self.groups = []  # [("BUNDLE", ["0", "1"])]
        self.media = []

    def bundle(self):
        """The mids of the first BUNDLE group ([] when none)."""
        for sem, mids in self.groups:
            if sem == "BUNDLE":
                return mids
        return []

    def section(self, mid):
        for m in self.media:
            if m.mid == mid:
                return m
        return None

    def datachannel(self):
        """The first accepted data-channel m= section, or None."""
        for m in self.media:
            if m.port and m.is_datachannel():
                return m
        return None

    def transport(self):
        """The section whose ICE/DTLS parameters the single transport uses (RFC 8843 §7.3).

        That is the tagged section (first mid of the BUNDLE group) or else the first m= section
        with a non-zero port.
        """
        for mid in self.bundle():
            m = self.section(mid)
            if m is not None and m.port:
                return m
        for m in self.media:
            if m.port:
                return m
        return None


def _int(value, line):
    try:
        return int(value)
    except ValueError:
        raise ConfigError("SDP line %r: %r is not a number" % (line, value))


def parse(text):
    """SDP text (CRLF or LF lines) -> SessionDescription. Raises ConfigError when malformed.

    Lines are scanned in place (no split into a list): an 8 KB browser offer must parse in
    what is left of a 110 KB heap.
    """
    if isinstance(text, (bytes, bytearray, memoryview)):
        try:
            text = str(bytes(text), "utf-8")
        except UnicodeError:
            raise ConfigError("SDP is not UTF-8 text")
    sd = SessionDescription()
    session = MediaSection("session", 0, "", [], text, 0)  # holds session-level attributes
    cur = session
    seen_v = False
    i = 0
    n = len(text)
    while i < n:
        j = text.find("\n", i)
        if j < 0:
            j = n
        line = text[i:j].rstrip()
        if line:
            if len(line) < 2 or line[1] != "=":
                raise ConfigError("SDP line %r is not of the form x=value" % line)
            t = line[0]
            if t == "v":
                if line != "v=0":
                    raise ConfigError("SDP version %r: only v=0 exists (RFC 8866 §5.1)" % line)
                seen_v = True
            elif t == "a":
                _attribute(sd, cur, line)
            elif t == "m":
                f = line[2:].split()
                if len(f) < 3:
                    raise ConfigError("SDP m= line %r needs media, port and protocol" % line)
                cur._end = i
                cur = MediaSection(f[0], _int(f[1].split("/")[0], line), f[2], f[3:], text, i)
                sd.media.append(cur)
            elif t == "o":
                f = line[2:].split()
                if len(f) >= 3:
                    sd.origin_id = f[1]
                    sd.origin_version = f[2]
            elif t == "c":
                f = line[2:].split()
                if len(f) >= 3:
                    cur.connection = f[2]
        i = j + 1
    if not seen_v:
        raise ConfigError("not an SDP: no v=0 line")
    for m in sd.media:
        _inherit(m, session)
    sd.ice_lite = session.ice_lite
    return sd


def _inherit(m, session):
    """Session-level ICE/DTLS attributes apply to sections that do not set them (Firefox)."""
    for name in ("ice_ufrag", "ice_pwd", "ice_options", "fingerprint", "fingerprint_alg",
                 "setup"):
        if getattr(m, name) is None:
            setattr(m, name, getattr(session, name))
    if m.direction is None:
        m.direction = session.direction
    if m.proto == "DTLS/SCTP" and m.sctp_port is None and m.fmts:
        m.sctp_port = _int(m.fmts[0], "m=application ... DTLS/SCTP " + m.fmts[0])


def _split2(s):
    """'a b c' -> ('a', 'b c') (str.partition is optional on MicroPython ports)."""
    i = s.find(" ")
    return (s, "") if i < 0 else (s[:i], s[i + 1:])


def _attribute(sd, m, line):
    """Store one a= line of section `m` (the session pseudo-section at session level).

    Per-payload-type attributes stay in the text (see MediaSection.values); anything else
    that is not ours (extmap-allow-mixed, msid-semantic, rtcp, ...) is ignored.
    """
    i = line.find(":")
    name = line[2:] if i < 0 else line[2:i]
    val = "" if i < 0 else line[i + 1:]
    if name in DIRECTIONS:
        m.direction = name
    elif name == "mid":
        m.mid = val
    elif name == "candidate":
        c = parse_candidate(val)
        if c is not None:
            m.candidates.append(c)
    elif name == "rtcp-mux":
        m.rtcp_mux = True
    elif name == "rtcp-rsize":
        m.rtcp_rsize = True
    elif name == "bundle-only":
        m.bundle_only = True
    elif name == "ice-ufrag":
        m.ice_ufrag = val
    elif name == "ice-pwd":
        m.ice_pwd = val
    elif name == "ice-options":
        m.ice_options = val
    elif name == "ice-lite":
        m.ice_lite = True
    elif name == "fingerprint":
        alg, fp = _split2(val)
        alg = alg.lower()
        # Several lines (aiortc: sha-256, sha-384, sha-512): keep sha-256, the one DTLS checks.
        if m.fingerprint is None or alg == "sha-256":
            m.fingerprint_alg = alg
            m.fingerprint = fp.strip().upper()
    elif name == "setup":
        m.setup = val
    elif name == "sctp-port":
        m.sctp_port = _int(val, line)
    elif name == "max-message-size":
        m.max_message_size = _int(val, line)
    elif name == "end-of-candidates":
        m.end_of_candidates = True
    elif name == "group":
        f = val.split()
        if f:
            sd.groups.append((f[0], f[1:]))


class LocalTransport:
    """What the device puts in every description: ICE-lite credentials, DTLS, SCTP, address.

    `fingerprint` is the certificate's SHA-256 in SDP form ("AB:CD:..."); `setup` is the role
    answered to `actpass` ("active": the device is the DTLS client, or "passive"). `ice_lite`
    is False for a full (controlling) agent: its descriptions then omit `a=ice-lite`.
    """

    def __init__(self, ice_ufrag, ice_pwd, fingerprint, host, port, setup="active",
                 sctp_port=DEFAULT_SCTP_PORT, max_message_size=DEFAULT_MAX_MESSAGE_SIZE):
        if setup not in ("active", "passive"):
            raise ConfigError("setup must be 'active' or 'passive', not %r" % (setup,))
        if not 4 <= len(ice_ufrag) <= 256 or not 22 <= len(ice_pwd) <= 256:
            raise ConfigError("ice-ufrag needs 4-256 chars and ice-pwd 22-256 (RFC 8839 §5.4)")
        self.ice_ufrag = ice_ufrag
        self.ice_pwd = ice_pwd
        self.fingerprint = fingerprint
        self.host = host
        self.port = port
        self.setup = setup
        self.sctp_port = sctp_port
        self.max_message_size = max_message_size
        self.ice_lite = True


class MediaAnswer:
    """A media capability's answer (or offer) for one m= section.

    `fmts`: payload types (str) for the m= line; `direction`: what the device does
    ("sendonly", ...); `lines`: its own attribute lines ("a=rtpmap:...", "a=fmtp:...",
    "a=ssrc:...", ...). Transport, mid, rtcp-mux and direction lines are written by sdp.py.
    """

    def __init__(self, fmts, direction, lines):
        self.fmts = fmts
        self.direction = direction
        self.lines = lines


def session_id():
    """A random 62-bit decimal origin session id (RFC 8866 §5.2)."""
    return str(int.from_bytes(urandom(8), "big") >> 2)


def answer_setup(offered, local_setup):
    """The a=setup an answerer uses for the offer's `offered` role (RFC 8842 §5.1)."""
    if offered == "actpass":
        return local_setup
    if offered == "active":
        return "passive"
    if offered == "passive":
        return "active"
    if offered is None:  # RFC 4145 §4: absent means active
        return "passive"
    raise ConfigError("offer has a=setup:%s: the device needs actpass, active or passive"
                      % offered)


def _head(lines, sess_id, version, local):
    lines.append("v=0")
    lines.append("o=- %s %d IN %s %s" % (sess_id, version, _ipver(local.host), local.host))
    lines.append("s=-")
    lines.append("t=0 0")
    if local.ice_lite:
        lines.append("a=ice-lite")


def _ipver(ip):
    return "IP6" if ":" in ip else "IP4"


def _transport_lines(lines, local, setup, candidates):
    lines.append("a=ice-ufrag:" + local.ice_ufrag)
    lines.append("a=ice-pwd:" + local.ice_pwd)
    lines.append("a=fingerprint:sha-256 " + local.fingerprint)
    lines.append("a=setup:" + setup)
    if candidates:
        lines.append("a=candidate:1 1 udp %d %s %d typ host" % (HOST_PRIORITY, local.host,
                                                                 local.port))
        lines.append("a=end-of-candidates")


def _section_head(lines, kind, port, proto, fmts, local, mid):
    lines.append("m=%s %d %s %s" % (kind, port, proto, " ".join(fmts)))
    lines.append("c=IN %s %s" % (_ipver(local.host), local.host if port else "0.0.0.0"))
    if mid is not None:
        lines.append("a=mid:" + mid)


def _datachannel_lines(lines, local, proto):
    if proto == "DTLS/SCTP":  # pre-RFC 8841 syntax (old browsers): a=sctpmap
        lines.append("a=sctpmap:%d webrtc-datachannel 65535" % local.sctp_port)
    else:
        lines.append("a=sctp-port:%d" % local.sctp_port)
    lines.append("a=max-message-size:%d" % local.max_message_size)


def _check_transport(m):
    missing = []
    if not m.ice_ufrag or not m.ice_pwd:
        missing.append("a=ice-ufrag/a=ice-pwd")
    if not m.fingerprint:
        missing.append("a=fingerprint")
    elif m.fingerprint_alg != "sha-256":
        missing.append("a=fingerprint:sha-256 (offer has only %s)" % m.fingerprint_alg)
    if missing:
        raise ConfigError("offer m=%s section (mid %s) lacks %s"
                          % (m.kind, m.mid, " and ".join(missing)))


def create_answer(offer, local, capabilities=(), sess_id="0", version=1, unserved="inactive"):
    """The JSEP answer (RFC 8829 §5.3.1) to `offer` (a SessionDescription), as SDP text.

    The first data-channel section and every section a capability accepts join one BUNDLE
    group; other media is answered `a=inactive` inside the group (`unserved="inactive"`) or
    rejected with port 0 (`unserved="reject"`); a second data-channel section and unknown
    protocols are always rejected. Raises ConfigError when nothing can be answered.
    """
    if unserved not in ("inactive", "reject"):
        raise ConfigError("unserved must be 'inactive' or 'reject'")
    plan = []  # (section, kind of answer, MediaAnswer or None)
    served = 0
    have_dc = False
    for m in offer.media:
        if m.mid is None:
            raise ConfigError("offer m=%s section has no a=mid (Unified Plan needs one)"
                              % m.kind)
        how = "reject"
        ans = None
        if m.port == 0 and not m.bundle_only:
            how = "reject"
        elif m.is_datachannel():
            if not have_dc:
                have_dc = True
                served += 1
                how = "datachannel"
        elif m.is_rtp() and m.kind in ("audio", "video"):
            for cap in capabilities:
                if cap.kind == m.kind:
                    ans = cap.answer(m)
                    if ans is not None:
                        break
            if ans is not None:
                how = "media"
                if ans.direction != "inactive":
                    served += 1
            elif unserved == "inactive" and m.fmts:
                how = "inactive"
        plan.append((m, how, ans))
    if not served:
        raise ConfigError("offer has no m=application UDP/DTLS/SCTP section and no media the "
                          "device can send")
    tp = offer.transport()
    if tp is None:
        raise ConfigError("every offered m= section has port 0: nothing to answer")
    _check_transport(tp)
    setup = answer_setup(tp.setup, local.setup)
    lines = []
    _head(lines, sess_id, version, local)
    mids = []
    for m, how, _ans in plan:
        if how != "reject":
            mids.append(m.mid)
    lines.append("a=group:BUNDLE " + " ".join(mids))
    first = True
    for m, how, ans in plan:
        if how == "reject":
            _section_head(lines, m.kind, 0, m.proto, m.fmts[:1] or ["0"], local, m.mid)
            continue
        if how == "datachannel":
            _section_head(lines, m.kind, local.port, m.proto, m.fmts, local, m.mid)
        elif how == "inactive":
            pt = m.fmts[0]
            _section_head(lines, m.kind, local.port, m.proto, [pt], local, m.mid)
        else:
            _section_head(lines, m.kind, local.port, m.proto, ans.fmts, local, m.mid)
        _transport_lines(lines, local, setup, first)
        first = False
        if how == "datachannel":
            _datachannel_lines(lines, local, m.proto)
        elif how == "inactive":
            lines.append("a=inactive")
            lines.append("a=rtcp-mux")
            enc = m.rtpmap(pt)
            if enc is not None:
                lines.append("a=rtpmap:%s %s" % (pt, enc))
        else:
            lines.append("a=" + ans.direction)
            lines.append("a=rtcp-mux")
            for a in ans.lines:
                lines.append(a)
    lines.append("")
    return "\r\n".join(lines)


def create_offer(local, capabilities=(), sess_id="0", version=1, datachannel=True):
    """A device-initiated offer (RFC 8829 §5.2.1): one data-channel section (mid "0") unless
    `datachannel` is False, then one section per capability with an `offer(mid)` method."""
    sections = []  # (kind, proto, fmts, mid, MediaAnswer or None)
    if datachannel:
        sections.append(("application", "UDP/DTLS/SCTP", ["webrtc-datachannel"], "0", None))
    for cap in capabilities:
        mid = str(len(sections))
        ans = cap.offer(mid)
        if ans is not None:
            sections.append((cap.kind, "UDP/TLS/RTP/SAVPF", ans.fmts, mid, ans))
    if not sections:
        raise ConfigError("an offer needs a data channel or a media capability")
    lines = []
    _head(lines, sess_id, version, local)
    mids = []
    for s in sections:
        mids.append(s[3])
    lines.append("a=group:BUNDLE " + " ".join(mids))
    first = True
    for kind, proto, fmts, mid, ans in sections:
        _section_head(lines, kind, local.port, proto, fmts, local, mid)
        _transport_lines(lines, local, "actpass", first)  # RFC 8842 §5.2: offers say actpass
        first = False
        if ans is None:
            _datachannel_lines(lines, local, proto)
        else:
            lines.append("a=" + ans.direction)
            lines.append("a=rtcp-mux")
            for a in ans.lines:
                lines.append(a)
    lines.append("")
    return "\r\n".join(lines)


def dtls_role(local_setup, remote_setup):
    """'client' or 'server' for the device, from the two a=setup values (RFC 8842 §5)."""
    if local_setup == "active" or remote_setup == "passive":
        return "client"
    if local_setup == "passive" or remote_setup == "active":
        return "server"
    raise ConfigError("a=setup %s/%s leaves the DTLS role open" % (local_setup, remote_setup))


def check_answer(answer):
    """Validate the remote answer to our offer; returns its transport section (ConfigError when
    it rejected everything or lacks ICE/DTLS parameters)."""
    tp = answer.transport()
    if tp is None:
        raise ConfigError("the answer rejected every m= section")
    _check_transport(tp)
    if tp.setup not in ("active", "passive"):
        raise ConfigError("the answer has a=setup:%s; an answer must say active or passive"
                          % tp.setup)
    return tp


def remote_max_message_size(section, cap):
    """The largest message we may send (RFC 8841 §6): 65536 when absent, `cap` for 0 or above."""
    v = section.max_message_size
    if v is None:
        v = DEFAULT_MAX_MESSAGE_SIZE
    if v == 0 or v > cap:
        return cap
    return v
