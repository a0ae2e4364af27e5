"""Parts of the SIP caller that have reference values: digest, parsing, G.711."""

import array
import struct

from notify import g711, sip


def test_digest_matches_the_rfc_2617_example(monkeypatch):
    challenge = (
        'Digest realm="testrealm@host.com", qop="auth,auth-int", '
        'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"'
    )
    monkeypatch.setattr(sip.secrets, "token_hex", lambda n: "0a4f113b")
    header = sip.digest_authorization(
        challenge, method="GET", uri="/dir/index.html", username="Mufasa", password="Circle Of Life"
    )
    assert 'response="6629fae49393a05397450978507c4ef1"' in header
    assert "nc=00000001" in header and 'opaque="5ccc069c403ebaf9f0171e9517f40e41"' in header


def test_a_response_with_compact_headers_and_two_vias_is_parsed():
    raw = (
        b"SIP/2.0 180 Ringing\r\n"
        b"v: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bKabc;rport=5062, SIP/2.0/UDP 10.0.0.1\r\n"
        b"f: <sip:parloir@example.org>;tag=1\r\n"
        b"t: <sip:+33251421100@example.org>;tag=2\r\n"
        b"i: abc@parloir\r\n"
        b"CSeq: 7 INVITE\r\n"
        b"l: 0\r\n\r\n"
    )
    message = sip.parse(raw)
    assert message.status == 180 and message.branch == "z9hG4bKabc"
    assert message.cseq == (7, "INVITE") and len(message.get_all("via")) == 2
    assert sip._tag(message.get("to")) == "2"


def test_sdp_answer_gives_the_media_address_port_and_codecs():
    body = (
        b"v=0\r\no=- 1 1 IN IP4 10.0.0.2\r\ns=-\r\nc=IN IP4 10.0.0.2\r\nt=0 0\r\n"
        b"m=audio 40000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\n"
    )
    assert sip.parse_sdp(body) == ("10.0.0.2", 40000, [8, 101])


def test_g711_follows_the_reference_values():
    samples = array.array("h", [0, -1, 1000, -1000, 32767, -32768]).tobytes()
    assert g711.encode(samples, "PCMU").hex() == "ff7ece4e8000"
    assert g711.encode(samples, "PCMA").hex() == "d555fa7aaa2a"
    for codec in ("PCMU", "PCMA"):
        decoded = array.array("h", g711.decode(g711.encode(samples, codec), codec))
        assert all(
            abs(a - b) <= max(16, abs(b) // 16)
            for a, b in zip(decoded, array.array("h", samples), strict=True)
        )


def _event_packet(pt: int, timestamp: int, event: int, end: bool, csrc: int = 0) -> bytes:
    header = struct.pack("!BBHII", 0x80 | csrc, pt, 7, timestamp, 0x1234)
    header += b"\x00\x00\x00\x01" * csrc
    return header + struct.pack("!BBH", event, (0x80 if end else 0) | 10, 800)


def test_a_telephone_event_gives_its_key_and_the_timestamp_of_its_press():
    # RFC 4733 §2.3: event, E bit, volume, duration; every packet of a press shares its
    # start's timestamp, the end packets (sent three times) included.
    assert sip.telephone_event(_event_packet(101, 5000, 5, False), {101}) == (5000, "5")
    assert sip.telephone_event(_event_packet(101, 5000, 5, True), {101}) == (5000, "5")
    assert sip.telephone_event(_event_packet(101, 9000, 11, True, csrc=2), {101}) == (9000, "#")
    # Voice (another payload type) and events that are not keys are not presses.
    assert sip.telephone_event(_event_packet(0, 5000, 5, False), {101}) is None
    assert sip.telephone_event(_event_packet(101, 5000, 16, False), {101}) is None
    assert sip.telephone_event(b"\x80\x65", {101}) is None


def test_the_answer_says_which_payload_type_carries_keys():
    body = (
        b"m=audio 4000 RTP/AVP 0 96\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:96 telephone-event/8000\r\n"
    )
    assert sip.telephone_event_types(body) == {96}


def test_a_key_sent_as_sip_info_is_read_in_both_usual_forms():
    def info(kind: str, body: bytes):
        raw = (
            b"INFO sip:parloir@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1\r\n"
            b"Call-ID: x@parloir\r\nCSeq: 3 INFO\r\nContent-Type: " + kind.encode() + b"\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )
        return sip.info_key(sip.parse(raw))

    assert info("application/dtmf-relay", b"Signal=7\r\nDuration=160\r\n") == "7"
    assert info("application/dtmf-relay", b"Signal= *\r\n") == "*"
    assert info("application/dtmf", b"11") == "#"
    assert info("application/dtmf", b"4") == "4"
    assert info("text/plain", b"hello") is None
