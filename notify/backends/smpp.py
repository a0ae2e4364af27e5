"""SMS straight to an operator's SMSC over SMPP, with delivery receipts."""

from __future__ import annotations

import logging
import threading
import time

from django.conf import settings

from notify import smpp
from notify.backends.base import Backend, Outcome
from notify.models import Attempt, Message
from parloir.env import ConfigurationError

log = logging.getLogger(__name__)

_link: smpp.Link | None = None
_link_lock = threading.Lock()
# Receipts that arrived before the sender had stored the SMSC's message id (a fast SMSC
# answers submit_sm and reports delivery within the same millisecond).
_early: dict[str, tuple[float, smpp.Receipt]] = {}
_early_lock = threading.Lock()
EARLY_KEEP_SECONDS = 300


def link_config() -> smpp.LinkConfig:
    if not settings.SMPP_HOST or not settings.SMPP_SYSTEM_ID:
        raise ConfigurationError("PARLOIR_SMPP_HOST and PARLOIR_SMPP_SYSTEM_ID are required")
    return smpp.LinkConfig(
        host=settings.SMPP_HOST,
        port=settings.SMPP_PORT,
        system_id=settings.SMPP_SYSTEM_ID,
        password=settings.SMPP_PASSWORD or "",
        system_type=settings.SMPP_SYSTEM_TYPE,
        source_addr=settings.SMS_SENDER,
        max_per_second=settings.SMPP_MAX_PER_SECOND,
        enquire_seconds=settings.SMPP_ENQUIRE_SECONDS,
    )


def get_link() -> smpp.Link:
    """This process's bind, opened on first use and kept."""
    global _link
    with _link_lock:
        if _link is None:
            _link = smpp.Link(link_config(), _on_receipt)
            _link.start()
        return _link


def close_link() -> None:
    global _link
    with _link_lock:
        link, _link = _link, None
    if link is not None:
        link.stop()


def _on_receipt(receipt: smpp.Receipt) -> None:
    from notify import worker

    worker.run_in_worker(apply_receipt, receipt)


def apply_receipt(receipt: smpp.Receipt) -> None:
    from notify.actions import do_report_delivery

    if not Message.objects.filter(backend="smpp", provider_ref=receipt.message_id).exists():
        now = time.monotonic()
        with _early_lock:
            for key in [k for k, (at, _r) in _early.items() if now - at > EARLY_KEEP_SECONDS]:
                del _early[key]
            _early[receipt.message_id] = (now, receipt)
        return
    do_report_delivery(
        provider_ref=receipt.message_id,
        delivered=receipt.delivered,
        detail=f"{receipt.state}: {receipt.text}"[:500],
    )


class SmppBackend(Backend):
    name = "smpp"
    queued = True

    def send(self, message: Message) -> Outcome:
        result = get_link().submit(message.to_number, message.text)
        if result.ok:
            return Outcome(ok=True, provider_ref=result.message_id, result=Attempt.Outcome.ACCEPTED)
        return Outcome(ok=False, error=result.error, retryable=result.retryable)

    def recorded(self, message: Message) -> None:
        with _early_lock:
            early = _early.pop(message.provider_ref, None) if message.provider_ref else None
        if early is not None:
            apply_receipt(early[1])
