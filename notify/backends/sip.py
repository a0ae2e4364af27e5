"""Voice calls to landlines over SIP: the code spoken digit by digit, twice, in G.711."""

from __future__ import annotations

import logging

from django.conf import settings

from notify import sip, speech
from notify.backends.base import Backend, Outcome
from notify.models import Attempt, Message
from parloir.env import ConfigurationError

log = logging.getLogger(__name__)

_RESULTS = {
    sip.ANSWERED: Attempt.Outcome.ANSWERED,
    sip.BUSY: Attempt.Outcome.BUSY,
    sip.NO_ANSWER: Attempt.Outcome.NO_ANSWER,
    sip.FAILED: Attempt.Outcome.FAILED,
}


def account_from_settings() -> sip.Account:
    if not settings.SIP_PROXY:
        raise ConfigurationError("PARLOIR_SIP_PROXY (host:port of the SIP trunk) is required")
    host, _, port = settings.SIP_PROXY.rpartition(":")
    if not host or not port.isdigit():
        host, port = settings.SIP_PROXY, "5060"
    low, _, high = settings.SIP_RTP_PORTS.partition("-")
    return sip.Account(
        proxy_host=host,
        proxy_port=int(port),
        domain=settings.SIP_DOMAIN or host,
        from_user=settings.SIP_FROM_USER,
        local_ip=settings.SIP_LOCAL_IP,
        public_ip=settings.SIP_PUBLIC_IP,
        username=settings.SIP_USERNAME,
        password=settings.SIP_PASSWORD or "",
        rtp_ports=(int(low), int(high or low)),
    )


def target_uri(number: str, account: sip.Account) -> str:
    return settings.SIP_URI_TEMPLATE.format(number=number, domain=account.domain)


class SipBackend(Backend):
    name = "sip"
    queued = True

    async def asend(self, message: Message) -> Outcome:
        account = account_from_settings()
        words = speech.script(
            text=message.text, spoken_digits=message.spoken_digits, language=message.language
        )
        try:
            pcm = await speech.synthesize(words.text, words.language)
        except speech.SpeechError as exc:
            return Outcome(ok=False, error=str(exc))
        report = await sip.place_call(
            account,
            target_uri(message.to_number, account),
            pcm,
            ring_timeout=settings.SIP_RING_SECONDS,
        )
        detail = f"{report.status} {report.reason}".strip()
        if report.codec:
            detail += f"; {report.codec}, {report.played_seconds:.1f} s"
        if report.hung_up_by_callee:
            detail += "; raccroché par le correspondant"
        result = _RESULTS[report.outcome]
        if report.outcome == sip.ANSWERED:
            # Heard only if the first reading went out whole; a hang-up in the first words
            # is a person who never got the code: call again.
            heard = report.played_seconds >= len(pcm) / 2 / speech.SAMPLE_RATE / 2
            return Outcome(
                ok=heard,
                delivered=heard,
                provider_ref=report.call_id,
                error=detail,
                retryable=not heard,
                result=result,
            )
        return Outcome(
            ok=False,
            provider_ref=report.call_id,
            error=detail,
            # Busy, no answer, a trunk hiccup may go through later; a number the trunk
            # refuses (404, 403...) will not.
            retryable=report.outcome in (sip.BUSY, sip.NO_ANSWER)
            or report.status == 0
            or report.status >= 500,
            result=result,
        )
