"""A long-lived SMPP 3.4 transceiver bind to an operator's SMSC (smpplib underneath).

One link per process, shared by the senders: a reader thread keeps the bind up
(enquire_link when idle, reconnection with backoff when it drops) and routes each
submit_sm_resp to the sender waiting for it (by sequence number) and each delivery
receipt to ``on_receipt``. Senders are paced by a token bucket at the operator's rate,
and slow down further when the SMSC says it is throttled (ESME_RTHROTTLED).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import smpplib.client
import smpplib.consts
import smpplib.exceptions
import smpplib.smpp

from notify import sms

log = logging.getLogger(__name__)

ESME_ROK = 0x00
# esm_class bit set on a deliver_sm that is a delivery receipt.
ESM_DELIVERY_RECEIPT = 0x04
ESME_RTHROTTLED = 0x58
ESME_RMSGQFUL = 0x14
ESME_RSYSERR = 0x08
# Worth trying again later; anything else is a refusal of this message.
TRANSIENT = {ESME_RTHROTTLED, ESME_RMSGQFUL, ESME_RSYSERR}
# Receipt states (SMPP 3.4 appendix B, and the message_state TLV).
FINAL_STATES = {
    "DELIVRD": True,
    "EXPIRED": False,
    "DELETED": False,
    "UNDELIV": False,
    "REJECTD": False,
    "UNKNOWN": False,
}
_STATE_NAMES = {2: "DELIVRD", 3: "EXPIRED", 4: "DELETED", 5: "UNDELIV", 7: "UNKNOWN", 8: "REJECTD"}


@dataclass(frozen=True)
class LinkConfig:
    host: str
    port: int
    system_id: str
    password: str
    system_type: str = ""
    source_addr: str = "parloir"
    max_per_second: int = 10
    enquire_seconds: int = 30
    response_timeout: float = 10.0
    max_reconnect_delay: float = 30.0


@dataclass(frozen=True)
class Submitted:
    ok: bool
    message_id: str = ""
    error: str = ""
    retryable: bool = False


@dataclass(frozen=True)
class Receipt:
    message_id: str
    state: str
    delivered: bool
    text: str


class _Waiter:
    __slots__ = ("event", "pdu")

    def __init__(self) -> None:
        self.event = threading.Event()
        self.pdu = None


class _SequenceGenerator:
    """smpplib's generator, made safe for senders and the reader thread together."""

    MIN, MAX = 1, 0x7FFFFFFF

    def __init__(self) -> None:
        self._sequence = self.MIN
        self._lock = threading.Lock()

    @property
    def sequence(self) -> int:
        return self._sequence

    def next_sequence(self) -> int:
        with self._lock:
            self._sequence = self.MIN if self._sequence >= self.MAX else self._sequence + 1
            return self._sequence


class _Client(smpplib.client.Client):
    """One writer at a time on the socket: senders and the reader's automatic replies."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._write_lock = threading.Lock()

    def send_pdu(self, p):
        with self._write_lock:
            return super().send_pdu(p)

    def read_pdu(self):
        pdu = super().read_pdu()
        if pdu.command == "unbind":
            # smpplib only logs it; answer, then reconnect as after any drop.
            response = smpplib.smpp.make_pdu("unbind_resp", client=self)
            response.sequence = pdu.sequence
            self.send_pdu(response)
            raise smpplib.exceptions.ConnectionError("unbound by the SMSC")
        return pdu


def parse_receipt(pdu) -> Receipt | None:
    """A delivery receipt (esm_class bit 2) from a deliver_sm; None for anything else."""
    if not (getattr(pdu, "esm_class", 0) or 0) & ESM_DELIVERY_RECEIPT:
        return None
    raw = pdu.short_message or b""
    text = raw.decode("latin-1") if isinstance(raw, bytes) else str(raw)
    message_id = getattr(pdu, "receipted_message_id", None)
    if isinstance(message_id, bytes):
        message_id = message_id.decode("ascii", "replace")
    if not message_id:
        match = re.search(r"\bid:(\S+)", text)
        message_id = match.group(1) if match else ""
    state = ""
    message_state = getattr(pdu, "message_state", None)
    if message_state in _STATE_NAMES:
        state = _STATE_NAMES[message_state]
    else:
        match = re.search(r"\bstat:(\w+)", text)
        state = match.group(1).upper() if match else ""
    if not message_id or state not in FINAL_STATES:
        return None
    return Receipt(message_id.strip("\x00"), state, FINAL_STATES[state], text)


class Link:
    def __init__(self, config: LinkConfig, on_receipt: Callable[[Receipt], None]) -> None:
        self.config = config
        self.on_receipt = on_receipt
        self.bound = threading.Event()
        self._stop = threading.Event()
        self._client: _Client | None = None
        self._waiters: dict[int, _Waiter] = {}
        self._waiters_lock = threading.Lock()
        self._bucket_lock = threading.Lock()
        self._next_slot = 0.0
        self._thread = threading.Thread(target=self._run, name="smpp-link", daemon=True)
        self.binds = 0

    # --- lifecycle ---

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        client = self._client
        if client is not None:
            try:
                if self.bound.is_set():
                    client.send_pdu(smpplib.smpp.make_pdu("unbind", client=client))
            except (smpplib.exceptions.ConnectionError, smpplib.exceptions.PDUError, OSError):
                pass
            self._close(client)
        self._thread.join(10)

    def _close(self, client: _Client) -> None:
        self.bound.clear()
        try:
            client.disconnect()
        except (smpplib.exceptions.ConnectionError, OSError):
            pass
        self._fail_waiters()

    def _fail_waiters(self) -> None:
        with self._waiters_lock:
            waiters, self._waiters = self._waiters, {}
        for waiter in waiters.values():
            waiter.event.set()  # pdu None: the link dropped under it

    def _run(self) -> None:
        delay = 0.5
        while not self._stop.is_set():
            client = _Client(
                self.config.host,
                self.config.port,
                timeout=self.config.enquire_seconds,
                sequence_generator=_SequenceGenerator(),
                allow_unknown_opt_params=True,
            )
            client.set_message_sent_handler(self._response)
            client.set_message_received_handler(self._received)
            client.set_error_pdu_handler(self._error_pdu)
            try:
                client.connect()
                client.bind_transceiver(
                    system_id=self.config.system_id,
                    password=self.config.password,
                    system_type=self.config.system_type,
                )
            except (smpplib.exceptions.ConnectionError, smpplib.exceptions.PDUError, OSError) as e:
                log.warning("SMPP bind to %s:%s failed: %s", self.config.host, self.config.port, e)
                self._close(client)
                # Back off, but wake at once on stop().
                if self._stop.wait(delay):
                    return
                delay = min(delay * 2, self.config.max_reconnect_delay)
                continue
            self._client = client
            self.binds += 1
            delay = 0.5
            self.bound.set()
            log.info("SMPP bound to %s:%s", self.config.host, self.config.port)
            try:
                while not self._stop.is_set():
                    client.read_once()
            except (smpplib.exceptions.ConnectionError, smpplib.exceptions.PDUError, OSError) as e:
                if not self._stop.is_set():
                    log.warning("SMPP link lost: %s; reconnecting", e)
            finally:
                self._close(client)
                self._client = None

    # --- reader callbacks (reader thread) ---

    def _resolve(self, pdu) -> None:
        with self._waiters_lock:
            waiter = self._waiters.pop(pdu.sequence, None)
        if waiter is not None:
            waiter.pdu = pdu
            waiter.event.set()

    def _response(self, pdu, **kwargs) -> None:
        self._resolve(pdu)

    def _error_pdu(self, pdu) -> None:
        # submit_sm_resp errors are also passed to _response; generic_nack only here.
        if pdu.command == "generic_nack":
            self._resolve(pdu)

    def _received(self, pdu, **kwargs):
        receipt = parse_receipt(pdu)
        if receipt is not None:
            try:
                self.on_receipt(receipt)
            except Exception:
                log.exception("SMPP receipt handler failed for %s", receipt.message_id)
        return ESME_ROK

    # --- sending (any thread) ---

    def _pace(self) -> None:
        """Token bucket: submissions leave at most max_per_second, evenly spaced."""
        interval = 1.0 / max(1, self.config.max_per_second)
        with self._bucket_lock:
            now = time.monotonic()
            slot = max(now, self._next_slot)
            self._next_slot = slot + interval
        if slot > now:
            time.sleep(slot - now)

    def _slow_down(self) -> None:
        with self._bucket_lock:
            self._next_slot = max(self._next_slot, time.monotonic()) + 1.0

    def _submit_part(self, destination: str, encoded: sms.Encoded, part: bytes, last: bool):
        client = self._client
        if client is None or not self.bound.is_set():
            return None
        waiter = _Waiter()
        esm_class = smpplib.consts.SMPP_MSGTYPE_DEFAULT
        if encoded.udhi:
            esm_class |= smpplib.consts.SMPP_GSMFEAT_UDHI
        pdu = smpplib.smpp.make_pdu(
            "submit_sm",
            client=client,
            source_addr_ton=smpplib.consts.SMPP_TON_ALNUM
            if not self.config.source_addr.lstrip("+").isdigit()
            else smpplib.consts.SMPP_TON_INTL,
            source_addr_npi=smpplib.consts.SMPP_NPI_UNK
            if not self.config.source_addr.lstrip("+").isdigit()
            else smpplib.consts.SMPP_NPI_ISDN,
            source_addr=self.config.source_addr.lstrip("+"),
            dest_addr_ton=smpplib.consts.SMPP_TON_INTL,
            dest_addr_npi=smpplib.consts.SMPP_NPI_ISDN,
            destination_addr=destination.lstrip("+"),
            data_coding=encoded.data_coding,
            esm_class=esm_class,
            # A receipt for the last part only: it completes the message.
            registered_delivery=1 if last else 0,
            short_message=part,
        )
        with self._waiters_lock:
            self._waiters[pdu.sequence] = waiter
        try:
            client.send_pdu(pdu)
        except (smpplib.exceptions.ConnectionError, smpplib.exceptions.PDUError, OSError):
            with self._waiters_lock:
                self._waiters.pop(pdu.sequence, None)
            return None
        if not waiter.event.wait(self.config.response_timeout):
            with self._waiters_lock:
                self._waiters.pop(pdu.sequence, None)
            return None
        return waiter.pdu

    def submit(self, destination: str, text: str, *, bind_timeout: float = 10.0) -> Submitted:
        """Send ``text`` to ``destination`` (E.164); blocks until the SMSC answered."""
        if not self.bound.wait(bind_timeout):
            return Submitted(False, error="SMPP: pas de liaison avec le SMSC", retryable=True)
        encoded = sms.encode_parts(sms.prepare(text))
        message_id = ""
        for index, part in enumerate(encoded.parts):
            last = index == len(encoded.parts) - 1
            for _try in range(5):
                self._pace()
                response = self._submit_part(destination, encoded, part, last)
                if response is None:
                    return Submitted(False, error="SMPP: la liaison est tombée", retryable=True)
                status = response.status
                if status == ESME_ROK:
                    break
                if status == ESME_RTHROTTLED:
                    self._slow_down()
                    continue
                description = smpplib.consts.DESCRIPTIONS.get(status, "unknown")
                return Submitted(
                    False,
                    error=f"SMPP {status:#04x}: {description}",
                    retryable=status in TRANSIENT,
                )
            else:
                return Submitted(False, error="SMPP: le SMSC limite le débit", retryable=True)
            raw = response.message_id or b""
            message_id = raw.decode("ascii", "replace") if isinstance(raw, bytes) else str(raw)
        return Submitted(True, message_id=message_id.strip("\x00"))
