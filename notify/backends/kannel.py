"""SMS through Kannel's HTTP sendsms; delivery reports come back to notify/views.py."""

from __future__ import annotations

import aiohttp
from django.conf import settings

from notify import kannel, sms
from notify.backends.base import Backend, Outcome
from notify.models import Attempt, Message

TIMEOUT = aiohttp.ClientTimeout(total=15, connect=5)


class KannelBackend(Backend):
    name = "kannel"
    queued = True

    def params(self, message: Message) -> dict[str, str]:
        text = sms.prepare(message.text)
        params = {
            "username": settings.KANNEL_USERNAME,
            "password": settings.KANNEL_PASSWORD or "",
            "from": settings.SMS_SENDER,
            "to": message.to_number,
            "text": text,
            "charset": "UTF-8",
            # 0: GSM 7-bit; 2: UCS-2. Kannel converts the UTF-8 text to either.
            "coding": "0" if sms.is_gsm7(text) else "2",
            # 1 delivered, 2 failed, 8 accepted by the SMSC, 16 rejected by the SMSC.
            "dlr-mask": "27",
            "dlr-url": kannel.dlr_url(message.pk, message.attempts),
        }
        if settings.KANNEL_SMSC_ID:
            params["smsc"] = settings.KANNEL_SMSC_ID
        return params

    async def asend(self, message: Message) -> Outcome:
        if not settings.KANNEL_PASSWORD:
            return Outcome(ok=False, error="PARLOIR_KANNEL_PASSWORD is not set")
        try:
            async with (
                aiohttp.ClientSession(timeout=TIMEOUT) as session,
                session.get(settings.KANNEL_SENDSMS_URL, params=self.params(message)) as response,
            ):
                body = (await response.text()).strip()
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            # Kannel down or restarting: worth another try.
            return Outcome(ok=False, error=f"Kannel injoignable : {exc!r}", retryable=True)
        # 202 "0: Accepted for delivery", or "3: Queued for later delivery" while the SMSC
        # link is down: Kannel keeps it and the delivery report tells the rest.
        if response.status in (200, 202):
            return Outcome(
                ok=True,
                provider_ref=f"kannel:{message.pk}:{message.attempts}",
                error=body,
                result=Attempt.Outcome.ACCEPTED,
            )
        # 4xx: our request is wrong (credentials, number); 5xx: Kannel's trouble.
        return Outcome(
            ok=False,
            error=f"Kannel {response.status}: {body[:300]}",
            retryable=response.status >= 500,
        )
