"""Voice calls to landlines over SIP: the code and how to use it, read slowly, then again
on a key press, in G.711."""

from __future__ import annotations

import logging
from dataclasses import dataclass

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


@dataclass
class Recital:
    """The audio of a call, and how much of it the callee heard."""

    heard: bytes  # the message up to its code (after the lead-in)
    rest: bytes
    again: bytes
    offer: bytes
    goodbye: bytes
    readings: int = 0
    code_heard: bool = False

    async def __call__(self, call: sip.Call) -> None:
        """Read the message PARLOIR_VOICE_REPEAT times, and once more for each key the
        callee presses (during a reading, or after the offer to hear it again), up to
        PARLOIR_VOICE_MAX_READINGS; then say goodbye."""
        most = max(1, settings.VOICE_MAX_READINGS)
        while not call.hung_up_by_callee:
            wanted = min(most, max(1, settings.VOICE_REPEAT) + len(call.report.keys))
            if self.readings < wanted:
                await self.read(call)
                continue
            if not self.offer or self.readings >= most:
                break
            pressed = len(call.report.keys)
            log.info("Voice call %s: offering the message again", call.call_id)
            await call.play(self.offer)
            # A key pressed while the offer was said counts as well.
            if len(call.report.keys) == pressed:
                if await call.wait_for_key(settings.VOICE_KEY_WAIT_SECONDS) is None:
                    break
        if not call.hung_up_by_callee:
            await call.play(self.goodbye)

    async def read(self, call: sip.Call) -> None:
        if self.readings:
            await call.play(self.again)
        before = call.frames_sent
        await call.play(self.heard)
        if call.frames_sent - before >= len(self.heard) // 2 // sip.FRAME_SAMPLES:
            self.code_heard = True
        await call.play(self.rest)
        self.readings += 1


async def recital(message: Message) -> Recital:
    """The words of ``message`` (speech.script_for), synthesized."""
    words = speech.script_for(message)
    language = words.language

    async def say(ssml: str, lead_in: bool = False) -> bytes:
        return await speech.synthesize(ssml, language, lead_in=lead_in) if ssml else b""

    return Recital(
        heard=await say(words.heard, lead_in=True),
        rest=await say(words.rest),
        again=await say(words.again),
        offer=await say(words.offer) if settings.VOICE_KEY_REPEAT else b"",
        goodbye=await say(words.goodbye),
    )


class SipBackend(Backend):
    name = "sip"
    queued = True

    async def asend(self, message: Message) -> Outcome:
        account = account_from_settings()
        try:
            recited = await recital(message)
        except speech.SpeechError as exc:
            return Outcome(ok=False, error=str(exc))
        report = await sip.place_call(
            account,
            target_uri(message.to_number, account),
            recited,
            ring_timeout=settings.SIP_RING_SECONDS,
        )
        detail = f"{report.status} {report.reason}".strip()
        if report.codec:
            detail += f"; {report.codec}, {report.played_seconds:.1f} s"
            detail += f", {recited.readings} lecture(s)"
        if report.keys:
            detail += f", touches {report.keys}"
        if report.hung_up_by_callee:
            detail += "; raccroché par le correspondant"
        result = _RESULTS[report.outcome]
        if report.outcome == sip.ANSWERED:
            # Heard only if the code went out whole once; a hang-up before it is a person
            # who never got the code: call again.
            heard = recited.code_heard
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
