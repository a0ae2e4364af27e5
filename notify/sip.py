"""A small SIP caller (user agent client) over UDP that plays G.711 audio and hangs up.

Why our own rather than a library: the Python SIP stacks available either need a
registrar and break dialogs (pyVoIP), no longer import (aiosip), or come as an
unofficial binary wheel of PJSIP. What a notification call needs is a narrow,
well-trodden part of RFC 3261: one INVITE client transaction (with digest
authentication and CANCEL on ring timeout), an ACK, RTP (RFC 3550) with PCMU or PCMA
(RFC 3551) one way, the callee's keys back (RFC 4733 telephone-events, or SIP INFO),
and a BYE. All requests go to one outbound proxy (the SIP
trunk), which is how trunks are used; so there is no DNS SRV and no route set to
follow. Everything runs on the caller's asyncio loop; one call is one coroutine.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import re
import secrets
import socket
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from notify import g711
from parloir.logmask import redact

log = logging.getLogger(__name__)

T1 = 0.5  # RFC 3261 round-trip estimate
T2 = 4.0
TIMER_B = 64 * T1  # an INVITE nobody answers at all
FRAME_SAMPLES = 160  # 20 ms at 8 kHz
FRAME_SECONDS = 0.02
PAYLOAD_TYPES = {"PCMU": 0, "PCMA": 8}
# The keys of a phone, as RFC 4733 numbers them (events 0 to 15).
TELEPHONE_EVENT_PT = 101
KEYS = "0123456789*#ABCD"

ANSWERED = "answered"
BUSY = "busy"
NO_ANSWER = "no_answer"
FAILED = "failed"

_BUSY = {486, 600}
_NO_ANSWER = {408, 480, 487, 603}
_COMPACT = {
    "v": "via",
    "f": "from",
    "t": "to",
    "i": "call-id",
    "m": "contact",
    "l": "content-length",
    "c": "content-type",
}


class SipError(RuntimeError):
    pass


@dataclass(frozen=True)
class Account:
    """Where and as whom we call."""

    proxy_host: str
    proxy_port: int
    domain: str
    from_user: str
    local_ip: str = ""  # address to bind; every interface when empty
    public_ip: str = ""  # address written in Via, Contact and SDP; found from the route
    username: str = ""
    password: str = ""
    rtp_ports: tuple[int, int] = (31000, 31999)
    user_agent: str = "parloir"


@dataclass
class Report:
    outcome: str
    status: int = 0
    reason: str = ""
    call_id: str = ""
    codec: str = ""
    played_seconds: float = 0.0
    hung_up_by_callee: bool = False
    keys: str = ""  # the keys the callee pressed, in order
    events: list[str] = field(default_factory=list)


@dataclass
class SipMessage:
    first_line: str
    headers: list[tuple[str, str]]
    body: bytes

    @property
    def is_response(self) -> bool:
        return self.first_line.startswith("SIP/2.0 ")

    @property
    def status(self) -> int:
        return int(self.first_line.split(" ", 2)[1])

    @property
    def reason(self) -> str:
        parts = self.first_line.split(" ", 2)
        return parts[2] if len(parts) > 2 else ""

    @property
    def method(self) -> str:
        return self.first_line.split(" ", 1)[0]

    def get(self, name: str) -> str:
        name = name.lower()
        return next((value for key, value in self.headers if key == name), "")

    def get_all(self, name: str) -> list[str]:
        name = name.lower()
        return [value for key, value in self.headers if key == name]

    @property
    def cseq(self) -> tuple[int, str]:
        number, method = self.get("cseq").split()
        return int(number), method

    @property
    def branch(self) -> str:
        match = re.search(r";\s*branch=([^;,\s]+)", self.get("via"))
        return match.group(1) if match else ""


def parse(data: bytes) -> SipMessage:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("utf-8", "replace").split("\r\n")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and headers:  # folded continuation
            name, value = headers[-1]
            headers[-1] = (name, f"{value} {line.strip()}")
            continue
        name, sep, value = line.partition(":")
        if not sep:
            continue
        name = name.strip().lower()
        # Several values in one header line (Via: a, b) are kept as separate entries.
        values = [value.strip()]
        if name in ("via", "v", "record-route", "route"):
            values = [v.strip() for v in re.split(r",(?=(?:[^\"]*\"[^\"]*\")*[^\"]*$)", value)]
        for item in values:
            headers.append((_COMPACT.get(name, name), item))
    return SipMessage(lines[0], headers, body)


def _tag(header: str) -> str:
    match = re.search(r";\s*tag=([^;>\s]+)", header)
    return match.group(1) if match else ""


def _uri_in(header: str) -> str:
    match = re.search(r"<([^>]+)>", header)
    return match.group(1) if match else header.split(";")[0].strip()


def digest_authorization(
    challenge: str, *, method: str, uri: str, username: str, password: str, nc: int = 1
) -> str:
    """The Authorization value answering a Digest ``challenge`` (RFC 2617, MD5)."""
    params: dict[str, str] = {}
    for key, quoted, bare in re.findall(r'(\w+)=(?:"([^"]*)"|([^\s,]+))', challenge):
        params[key.lower()] = quoted or bare
    algorithm = params.get("algorithm", "MD5")
    if algorithm.upper() != "MD5":
        raise SipError(f"Unsupported digest algorithm {algorithm}")
    realm, nonce = params.get("realm", ""), params.get("nonce", "")

    def md5(text: str) -> str:
        return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()

    ha1 = md5(f"{username}:{realm}:{password}")
    ha2 = md5(f"{method}:{uri}")
    fields = [
        f'username="{username}"',
        f'realm="{realm}"',
        f'nonce="{nonce}"',
        f'uri="{uri}"',
        "algorithm=MD5",
    ]
    qops = [q.strip() for q in params.get("qop", "").split(",") if q.strip()]
    if "auth" in qops:
        cnonce = secrets.token_hex(8)
        response = md5(f"{ha1}:{nonce}:{nc:08x}:{cnonce}:auth:{ha2}")
        fields += ["qop=auth", f"nc={nc:08x}", f'cnonce="{cnonce}"']
    else:
        response = md5(f"{ha1}:{nonce}:{ha2}")
    fields.append(f'response="{response}"')
    if "opaque" in params:
        fields.append(f'opaque="{params["opaque"]}"')
    return "Digest " + ", ".join(fields)


def parse_sdp(body: bytes) -> tuple[str, int, list[int]]:
    """Connection address, audio port and payload types of an SDP answer."""
    address, port, payloads = "", 0, []
    media_address = ""
    in_audio = False
    for line in body.decode("utf-8", "replace").splitlines():
        if line.startswith("c=") and not in_audio:
            address = line.split()[-1]
        elif line.startswith("m="):
            fields = line[2:].split()
            in_audio = fields[0] == "audio"
            if in_audio:
                port = int(fields[1])
                payloads = [int(p) for p in fields[3:] if p.isdigit()]
        elif line.startswith("c=") and in_audio:
            media_address = line.split()[-1]
    return media_address or address, port, payloads


def telephone_event_types(body: bytes) -> set[int]:
    """The payload types an SDP maps to telephone-event (RFC 4733)."""
    found = re.findall(rb"(?im)^a=rtpmap:(\d+) telephone-event/", body)
    return {int(pt) for pt in found}


def telephone_event(packet: bytes, payload_types: set[int]) -> tuple[int, str] | None:
    """(RTP timestamp, key) of an RFC 4733 event packet of one of ``payload_types``.

    Every packet of one key press, its end packets sent three times included, carries
    the timestamp of the press's start: that is what tells one press from the next.
    """
    if len(packet) < 12 or packet[0] >> 6 != 2 or packet[1] & 0x7F not in payload_types:
        return None
    offset = 12 + 4 * (packet[0] & 0x0F)  # the CSRC list
    if packet[0] & 0x10 and len(packet) >= offset + 4:  # a header extension
        offset += 4 + 4 * struct.unpack("!H", packet[offset + 2 : offset + 4])[0]
    if len(packet) < offset + 4 or packet[offset] >= len(KEYS):
        return None
    return struct.unpack("!I", packet[4:8])[0], KEYS[packet[offset]]


def info_key(message: SipMessage) -> str | None:
    """The key of a SIP INFO (application/dtmf-relay "Signal=5", or application/dtmf)."""
    kind = message.get("content-type").split(";")[0].strip().lower()
    body = message.body.decode("ascii", "replace")
    if kind == "application/dtmf-relay":
        found = re.search(r"(?im)^\s*signal\s*=\s*([0-9*#A-D])", body)
        return found.group(1).upper() if found else None
    if kind == "application/dtmf":
        key = body.strip().upper()
        if key.isdigit() and int(key) < len(KEYS):
            return KEYS[int(key)]
        return key if len(key) == 1 and key in KEYS else None
    return None


def _route_address(host: str, port: int) -> str:
    """The local address the kernel would use to reach ``host`` (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect((host, port))
        return probe.getsockname()[0]


class _Endpoint(asyncio.DatagramProtocol):
    def __init__(self, on_message: Callable[[SipMessage, tuple], None]) -> None:
        self.on_message = on_message
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        if not data.strip():  # keep-alive CRLFs
            return
        try:
            message = parse(data)
        except (ValueError, IndexError):
            log.warning("Unparsable SIP datagram from %s", addr)
            return
        self.on_message(message, addr)


class _RtpSink(asyncio.DatagramProtocol):
    """What the callee sends back: its voice is dropped, its keys are kept."""

    def __init__(self, on_key: Callable[[str], None]) -> None:
        self.on_key = on_key
        self.event_types = {TELEPHONE_EVENT_PT}
        self._presses: set[int] = set()

    def datagram_received(self, data: bytes, addr) -> None:
        event = telephone_event(data, self.event_types)
        if event is not None and event[0] not in self._presses:
            self._presses.add(event[0])
            self.on_key(event[1])


class Call:
    """One outgoing call. Use :func:`place_call`."""

    def __init__(self, account: Account, target_uri: str) -> None:
        self.account = account
        self.target_uri = target_uri
        self.loop = asyncio.get_running_loop()
        self.call_id = f"{secrets.token_hex(12)}@parloir"
        self.from_tag = secrets.token_hex(6)
        self.to_header = f"<{target_uri}>"
        self.cseq = random.randint(1, 10000)
        self.responses: asyncio.Queue[SipMessage] = asyncio.Queue()
        self.remote_bye = asyncio.Event()
        self.endpoint: _Endpoint | None = None
        self.rtp_transport: asyncio.DatagramTransport | None = None
        self.rtp_port = 0
        self.ip = ""
        self.port = 0
        self.remote_target = target_uri
        self.auth_header = ""
        self.report = Report(outcome=FAILED, call_id=self.call_id)
        self.rtp_sink = _RtpSink(self._key)
        self.key_pressed = asyncio.Event()
        # Where the audio goes once answered, and the RTP stream's running state.
        self.media: tuple[str, int] | None = None
        self.payload_type = 0
        self.ssrc = secrets.randbits(32)
        self.sequence = secrets.randbelow(2**16)
        self.timestamp = secrets.randbits(32)
        self.frames_sent = 0
        self.next_frame_at = 0.0

    # --- transport ---

    async def open(self) -> None:
        account = self.account
        transport, endpoint = await self.loop.create_datagram_endpoint(
            lambda: _Endpoint(self._received), local_addr=(account.local_ip or "0.0.0.0", 0)
        )
        self.endpoint = endpoint
        self.port = transport.get_extra_info("sockname")[1]
        self.ip = (
            account.public_ip
            or account.local_ip
            or _route_address(account.proxy_host, account.proxy_port)
        )
        low, high = account.rtp_ports
        start = random.randrange(low, high + 1) & ~1
        for offset in range(0, high - low + 1, 2):
            port = low + ((start - low + offset) % (high - low + 1) & ~1)
            try:
                self.rtp_transport, _ = await self.loop.create_datagram_endpoint(
                    lambda: self.rtp_sink, local_addr=(account.local_ip or "0.0.0.0", port)
                )
            except OSError:
                continue
            self.rtp_port = port
            break
        else:
            raise SipError(f"No free RTP port in {low}-{high}")

    def close(self) -> None:
        if self.endpoint is not None and self.endpoint.transport is not None:
            self.endpoint.transport.close()
        if self.rtp_transport is not None:
            self.rtp_transport.close()

    def _send(self, text: str, body: bytes = b"") -> None:
        assert self.endpoint is not None and self.endpoint.transport is not None
        self.endpoint.transport.sendto(
            text.encode() + body, (self.account.proxy_host, self.account.proxy_port)
        )

    def _received(self, message: SipMessage, addr) -> None:
        if message.is_response:
            self.responses.put_nowait(message)
            return
        method = message.method
        if method == "BYE" and message.get("call-id") == self.call_id:
            self.remote_bye.set()
            self.report.hung_up_by_callee = True
            self._respond(message, 200, "OK")
        elif method == "ACK":
            pass
        elif method == "INFO" and message.get("call-id") == self.call_id:
            # Trunks that do not relay keys as RTP events send them this way.
            key = info_key(message)
            self._respond(message, 200, "OK")
            if key:
                self._key(key)
        elif method in ("OPTIONS", "INVITE") and message.get("call-id") == self.call_id:
            # A session refresh in our dialog: the same offer is still our answer.
            self._respond(message, 200, "OK", body=self._sdp() if method == "INVITE" else b"")
        else:
            self._respond(message, 481 if method != "OPTIONS" else 200, "Not here")

    def _key(self, key: str) -> None:
        self.report.keys += key
        self.key_pressed.set()

    def _respond(self, request: SipMessage, status: int, reason: str, body: bytes = b"") -> None:
        lines = [f"SIP/2.0 {status} {reason}"]
        lines += [f"Via: {via}" for via in request.get_all("via")]
        to = request.get("to")
        if status != 100 and not _tag(to):
            to = f"{to};tag={self.from_tag}"
        lines += [
            f"From: {request.get('from')}",
            f"To: {to}",
            f"Call-ID: {request.get('call-id')}",
            f"CSeq: {request.get('cseq')}",
            f"User-Agent: {self.account.user_agent}",
        ]
        if body:
            lines.append("Content-Type: application/sdp")
        lines.append(f"Content-Length: {len(body)}")
        self._send("\r\n".join(lines) + "\r\n\r\n", body)

    # --- requests ---

    def _headers(self, method: str, cseq: int, branch: str, *, to: str, uri: str) -> list[str]:
        account = self.account
        lines = [
            f"{method} {uri} SIP/2.0",
            f"Via: SIP/2.0/UDP {self.ip}:{self.port};branch={branch};rport",
            "Max-Forwards: 70",
            f"From: <sip:{account.from_user}@{account.domain}>;tag={self.from_tag}",
            f"To: {to}",
            f"Call-ID: {self.call_id}",
            f"CSeq: {cseq} {method}",
            f"Contact: <sip:{account.from_user}@{self.ip}:{self.port};transport=udp>",
            f"User-Agent: {account.user_agent}",
        ]
        return lines

    def _request(
        self,
        method: str,
        cseq: int,
        branch: str,
        *,
        to: str,
        uri: str,
        body: bytes = b"",
        auth: str = "",
    ) -> None:
        lines = self._headers(method, cseq, branch, to=to, uri=uri)
        if auth:
            lines.append(auth)
        if method == "INVITE":
            lines.append("Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, INFO")
        if body:
            lines.append("Content-Type: application/sdp")
        lines.append(f"Content-Length: {len(body)}")
        self._send("\r\n".join(lines) + "\r\n\r\n", body)

    def _sdp(self) -> bytes:
        session = random.randint(1, 2**31)
        return (
            "v=0\r\n"
            f"o=parloir {session} {session} IN IP4 {self.ip}\r\n"
            "s=parloir\r\n"
            f"c=IN IP4 {self.ip}\r\n"
            "t=0 0\r\n"
            f"m=audio {self.rtp_port} RTP/AVP 0 8 {TELEPHONE_EVENT_PT}\r\n"
            "a=rtpmap:0 PCMU/8000\r\n"
            "a=rtpmap:8 PCMA/8000\r\n"
            f"a=rtpmap:{TELEPHONE_EVENT_PT} telephone-event/8000\r\n"
            f"a=fmtp:{TELEPHONE_EVENT_PT} 0-15\r\n"
            "a=ptime:20\r\n"
            "a=sendrecv\r\n"
        ).encode()

    async def _response(self, branch: str, method: str, timeout: float) -> SipMessage | None:
        """The next response of the transaction (``branch``, ``method``), or None at timeout."""
        deadline = self.loop.time() + timeout
        while True:
            remaining = deadline - self.loop.time()
            if remaining <= 0:
                return None
            try:
                response = await asyncio.wait_for(self.responses.get(), remaining)
            except TimeoutError:
                return None
            try:
                number, cseq_method = response.cseq
            except ValueError:
                continue
            if response.branch == branch and cseq_method == method:
                return response
            if cseq_method == "INVITE" and 200 <= response.status < 300:
                # A retransmitted 200 for the INVITE: its ACK was lost, send it again.
                self._ack_2xx(response)

    async def _non_invite(self, method: str, *, to: str, uri: str) -> SipMessage | None:
        """A BYE or CANCEL-like transaction: retransmit until a final response (Timer F)."""
        self.cseq += 1
        cseq = self.cseq
        branch = _branch()
        auth = ""
        for _round in range(2):
            self._request(method, cseq, branch, to=to, uri=uri, auth=auth)
            interval, waited = T1, 0.0
            while waited < TIMER_B:
                response = await self._response(branch, method, interval)
                waited += interval
                if response is None:
                    self._request(method, cseq, branch, to=to, uri=uri, auth=auth)
                    interval = min(interval * 2, T2)
                    continue
                if response.status < 200:
                    continue
                if response.status in (401, 407) and not auth and self.account.username:
                    auth = self._authorization(response, method, uri)
                    self.cseq += 1
                    cseq, branch = self.cseq, _branch()
                    break
                return response
            else:
                return None
        return None

    def _authorization(self, response: SipMessage, method: str, uri: str) -> str:
        header = "www-authenticate" if response.status == 401 else "proxy-authenticate"
        name = "Authorization" if response.status == 401 else "Proxy-Authorization"
        value = digest_authorization(
            response.get(header),
            method=method,
            uri=uri,
            username=self.account.username,
            password=self.account.password,
        )
        return f"{name}: {value}"

    def _ack_non_2xx(self, response: SipMessage, cseq: int, branch: str) -> None:
        lines = self._headers("ACK", cseq, branch, to=response.get("to"), uri=self.target_uri)
        lines.append("Content-Length: 0")
        self._send("\r\n".join(lines) + "\r\n\r\n")

    def _ack_2xx(self, response: SipMessage) -> None:
        number, _method = response.cseq
        lines = self._headers(
            "ACK", number, _branch(), to=response.get("to"), uri=self.remote_target
        )
        if self.auth_header:
            lines.append(self.auth_header)
        lines.append("Content-Length: 0")
        self._send("\r\n".join(lines) + "\r\n\r\n")

    # --- the call ---

    def _send_invite(self, cseq: int, branch: str, sdp: bytes) -> None:
        self._request(
            "INVITE",
            cseq,
            branch,
            to=self.to_header,
            uri=self.target_uri,
            body=sdp,
            auth=self.auth_header,
        )

    async def invite(self, ring_timeout: float) -> SipMessage | None:
        """Ring until answered, refused or ``ring_timeout``; return the 200 or None."""
        sdp = self._sdp()
        self.cseq += 1
        cseq, branch = self.cseq, _branch()
        self._send_invite(cseq, branch, sdp)
        started = self.loop.time()
        ring_deadline = started + ring_timeout
        give_up = started + TIMER_B
        retransmit_at, interval = started + T1, T1
        provisional = False
        challenged = False
        while True:
            now = self.loop.time()
            if provisional and now >= ring_deadline:
                return await self._cancel(cseq, branch)
            if not provisional and now >= min(give_up, ring_deadline):
                self.report.outcome, self.report.reason = FAILED, "no response to INVITE"
                return None
            wake = ring_deadline if provisional else min(retransmit_at, give_up, ring_deadline)
            response = await self._response(branch, "INVITE", max(0.0, wake - now))
            if response is None:
                if not provisional and self.loop.time() >= retransmit_at:
                    self._send_invite(cseq, branch, sdp)
                    interval = min(interval * 2, T2)
                    retransmit_at = self.loop.time() + interval
                continue
            status = response.status
            if status < 200:
                if not provisional:
                    self.report.events.append(f"{status} {response.reason}")
                provisional = True
                continue
            self.report.status, self.report.reason = status, response.reason
            if status < 300:
                return response
            self._ack_non_2xx(response, cseq, branch)
            if status in (401, 407) and not challenged and self.account.username:
                challenged = True
                self.auth_header = self._authorization(response, "INVITE", self.target_uri)
                self.cseq += 1
                cseq, branch = self.cseq, _branch()
                self._send_invite(cseq, branch, sdp)
                retransmit_at, interval, provisional = self.loop.time() + T1, T1, False
                continue
            if status in _BUSY:
                self.report.outcome = BUSY
            elif status in _NO_ANSWER:
                self.report.outcome = NO_ANSWER
            else:
                self.report.outcome = FAILED
            return None

    async def _cancel(self, cseq: int, branch: str) -> SipMessage | None:
        """Ring timeout: CANCEL (same branch as the INVITE), then ACK its 487."""
        lines = self._headers("CANCEL", cseq, branch, to=self.to_header, uri=self.target_uri)
        lines.append("Content-Length: 0")
        cancel = "\r\n".join(lines) + "\r\n\r\n"
        self._send(cancel)
        self.report.outcome, self.report.reason = NO_ANSWER, "no answer before the ring timeout"
        deadline = self.loop.time() + TIMER_B
        interval = T1
        cancelled = False
        while self.loop.time() < deadline:
            response = await self._invite_or_cancel_response(branch, interval)
            if response is None:
                if not cancelled:
                    self._send(cancel)
                    interval = min(interval * 2, T2)
                continue
            _number, method = response.cseq
            if method == "CANCEL":
                cancelled = cancelled or response.status >= 200
                continue
            if response.status < 200:
                continue
            if response.status < 300:
                # Picked up just as we gave up: it was answered after all.
                self.report.outcome = ANSWERED
                self.report.status, self.report.reason = response.status, response.reason
                return response
            self._ack_non_2xx(response, cseq, branch)
            self.report.status = response.status
            return None
        return None

    async def _invite_or_cancel_response(self, branch: str, timeout: float) -> SipMessage | None:
        try:
            while True:
                response = await asyncio.wait_for(self.responses.get(), timeout)
                if response.branch == branch:
                    return response
        except TimeoutError:
            return None

    def answered(self, answer: SipMessage) -> None:
        """Acknowledge the 200 and settle where the audio goes, in which codec."""
        self.remote_target = _uri_in(answer.get("contact")) or self.target_uri
        self.to_header = answer.get("to")
        self._ack_2xx(answer)
        address, port, payloads = parse_sdp(answer.body)
        codec = next(
            (name for name, pt in PAYLOAD_TYPES.items() if pt in payloads and pt == payloads[0]),
            None,
        ) or next((name for name, pt in PAYLOAD_TYPES.items() if pt in payloads), None)
        if codec is None or not port:
            raise SipError(f"No common codec in the answer (payload types {payloads})")
        self.report.codec = codec
        self.payload_type = PAYLOAD_TYPES[codec]
        self.media = (address, port)
        # The callee sends its keys with the payload type it declared, or ours.
        self.rtp_sink.event_types |= telephone_event_types(answer.body)
        self.next_frame_at = self.loop.time()

    def _send_frame(self, payload: bytes) -> None:
        assert self.rtp_transport is not None and self.media is not None
        header = struct.pack(
            "!BBHII",
            0x80,
            (0x80 if self.frames_sent == 0 else 0) | self.payload_type,
            (self.sequence + self.frames_sent) & 0xFFFF,
            (self.timestamp + self.frames_sent * FRAME_SAMPLES) & 0xFFFFFFFF,
            self.ssrc,
        )
        self.rtp_transport.sendto(header + payload, self.media)
        self.frames_sent += 1
        self.report.played_seconds = round(self.frames_sent * FRAME_SECONDS, 2)

    async def _stream(self, pcm: bytes | None, seconds: float, until_key: bool) -> None:
        """Send ``pcm`` (or ``seconds`` of silence), one frame every 20 ms on the loop's
        clock; stop early on the callee's BYE, or on a key press when ``until_key``."""
        codec = self.report.codec
        silence = g711.encode(bytes(2 * FRAME_SAMPLES), codec)
        payload = g711.encode(pcm, codec) if pcm is not None else b""
        frames = (
            (len(payload) + FRAME_SAMPLES - 1) // FRAME_SAMPLES
            if pcm is not None
            else round(seconds / FRAME_SECONDS)
        )
        # After a pause of ours (synthesis, a key), the stream goes on from now.
        self.next_frame_at = max(self.next_frame_at, self.loop.time())
        stop = asyncio.ensure_future(self.remote_bye.wait())
        key = asyncio.ensure_future(self.key_pressed.wait()) if until_key else None
        try:
            for index in range(frames):
                if stop.done() or (key is not None and key.done()):
                    return
                chunk = payload[index * FRAME_SAMPLES : (index + 1) * FRAME_SAMPLES]
                self._send_frame(chunk + silence[len(chunk) :])
                # Paced against drift: each frame leaves 20 ms after the one before it.
                self.next_frame_at += FRAME_SECONDS
                delay = self.next_frame_at - self.loop.time()
                if delay > 0:
                    await asyncio.wait([f for f in (stop, key) if f is not None], timeout=delay)
        finally:
            stop.cancel()
            if key is not None:
                key.cancel()

    async def play(self, pcm: bytes) -> None:
        """Play ``pcm`` (16-bit, 8 kHz) to its end, or until the callee hangs up."""
        await self._stream(pcm, 0, until_key=False)

    async def wait_for_key(self, seconds: float) -> str | None:
        """The next key the callee presses within ``seconds`` (silence meanwhile, which
        keeps the line and any NAT on the way open), or None."""
        pressed = len(self.report.keys)
        self.key_pressed.clear()
        if not self.remote_bye.is_set():
            await self._stream(None, seconds, until_key=True)
        return self.report.keys[pressed] if len(self.report.keys) > pressed else None

    @property
    def hung_up_by_callee(self) -> bool:
        return self.remote_bye.is_set()

    async def hang_up(self) -> None:
        if self.remote_bye.is_set():
            return
        response = await self._non_invite("BYE", to=self.to_header, uri=self.remote_target)
        if response is None:
            self.report.events.append("no answer to BYE")


def _branch() -> str:
    # The RFC 3261 magic cookie marks branches that are unique per transaction.
    return "z9hG4bK" + secrets.token_hex(10)


Conversation = Callable[[Call], Awaitable[None]]


async def place_call(
    account: Account,
    target_uri: str,
    audio: bytes | Conversation,
    *,
    ring_timeout: float = 40,
    on_answer: Callable[[], Awaitable[None] | None] | None = None,
) -> Report:
    """Call ``target_uri`` through ``account``'s proxy and, once answered, play ``audio``
    (16-bit, 8 kHz PCM) or hold the conversation ``audio(call)`` (its ``play`` and
    ``wait_for_key``); hang up at its end. Never raises for what the network or the callee
    did: that is the report's outcome."""
    call = Call(account, target_uri)
    try:
        await call.open()
        answer = await call.invite(ring_timeout)
        if answer is None:
            return call.report
        call.report.outcome = ANSWERED
        if on_answer is not None:
            result = on_answer()
            if asyncio.iscoroutine(result):
                await result
        try:
            call.answered(answer)
            if isinstance(audio, bytes):
                await call.play(audio)
            else:
                await audio(call)
        finally:
            await call.hang_up()
        return call.report
    except (OSError, SipError, ValueError) as exc:
        # The number is the relative's: masked, it still tells the country and line kind.
        log.warning("SIP call %s to %s failed: %s", call.call_id, redact(target_uri), exc)
        call.report.reason = call.report.reason or str(exc)
        if call.report.outcome != ANSWERED:
            call.report.outcome = FAILED
        return call.report
    finally:
        call.close()
