"""The call WebSocket: browsers speak docs/signaling.md to parloir, parloir drives Janus.

One consumer per browser tab. The kiosk and the relative each publish one stream and
subscribe to the other's; staff monitors only subscribe, to both. Janus sessions are
not destroyed when the WebSocket drops: the browser re-attaches with its resume token
(or another process claims the session) while media keeps flowing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.utils import timezone, translation

from calls import access as call_access
from calls import actions, codes
from calls.events import call_group, end_label
from calls.media import hub
from calls.models import Call, CallWarning, Participant
from calls.protocol import BadFrame, TokenBucket, parse
from media import rooms
from media.janus import (
    CONNECTION_LOST,
    SESSION_LOST,
    Handle,
    JanusError,
    JanusEvent,
    JanusException,
)
from media.placement import NoMediaNodeAvailable
from media.turn import ice_servers
from parloir import access
from parloir.languages import language_of

log = logging.getLogger(__name__)

SIDES = ("kiosk", "relative")


@dataclass
class Principal:
    call: Call
    role: str
    staff: Any = None


def resolve_principal(scope, call_id: int) -> Principal | None:
    """Who this socket speaks for, by the same helpers as the HTTP views."""
    session = scope.get("session")
    cookies = scope.get("cookies", {})
    if session is not None:
        kiosk = call_access.kiosk_principal(cookies, session)
        if kiosk is not None:
            call = call_access.kiosk_call(kiosk, call_id)
            return Principal(call, "kiosk") if call else None
        call = call_access.portal_call(session)
        if call is not None and call.pk == call_id:
            return Principal(call, "relative") if actions.has_all_consents(call) else None
    user = scope.get("user")
    if (
        user is not None
        and user.is_authenticated
        and access.second_factor_ok(user, scope.get("session"))
    ):
        call = Call.objects.select_related("booking__room__quarter").filter(pk=call_id).first()
        if (
            call is not None
            and call.recorded  # calls with lawyers are never monitored
            and access.can(user, access.Can.WATCH, call.booking.room.quarter.establishment_id)
        ):
            return Principal(call, "monitor", staff=user)
    return None


def _resume(call: Call, role: str, token: str | None) -> Participant | None:
    if not token:
        return None
    return Participant.objects.filter(
        call=call, role=role, left_at__isnull=True, resume_token_hash=codes.hash_token(token)
    ).first()


def _earlier_media(participant: Participant) -> list[Participant]:
    """Earlier participants of this side that still hold a Janus session. Never a newer
    one: of two pages saying hello at once, the older must not destroy the newer's media."""
    return list(
        Participant.objects.filter(
            call=participant.call_id, role=participant.role, pk__lt=participant.pk
        ).exclude(janus_session=None)
    )


def _other_side(role: str) -> str:
    return "relative" if role == "kiosk" else "kiosk"


def _peer_feed(call: Call, role: str) -> int | None:
    return (
        Participant.objects.filter(
            call=call,
            role=_other_side(role),
            left_at__isnull=True,
            media_up=True,
            feed_id__isnull=False,
        )
        .values_list("feed_id", flat=True)
        .first()
    )


def _live_feeds(call: Call) -> list[int]:
    """The published feeds, the kiosk's first: monitors show the detainee, then the relative
    (console-watch.js places the videos in this order)."""
    by_role = dict(
        Participant.objects.filter(
            call=call, role__in=SIDES, left_at__isnull=True, media_up=True, feed_id__isnull=False
        ).values_list("role", "feed_id")
    )
    return [by_role[role] for role in SIDES if role in by_role]


def _peer_on_low_bandwidth(call: Call, role: str) -> bool:
    return Participant.objects.filter(
        call=call, role=_other_side(role), left_at__isnull=True, low_bandwidth=True
    ).exists()


def _state_frame(call: Call, language: str) -> dict[str, Any]:
    from calls.events import state_event

    with translation.override(language):
        return {**state_event(call), "type": "state", "final": not call.is_open}


class CallConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        self.bucket = TokenBucket()
        self.language = language_of(self.scope)
        self.principal: Principal | None = None
        self.participant: Participant | None = None
        self.publisher: Handle | None = None
        self.subscriber: Handle | None = None
        self.room: rooms.Room | None = None
        self.janus_session = None
        self.subscribed_feeds: tuple[int, ...] = ()
        # This socket's place among its side's attachments (do_announce_attached).
        self.attachment: tuple[int, int] | None = None
        self._unlisten: list = []
        self._tasks: set[asyncio.Task] = set()
        await self.accept()

    # --- frames in -------------------------------------------------------------------

    async def receive(self, text_data=None, bytes_data=None) -> None:
        if not self.bucket.take(time.monotonic()):
            await self._error("rate_limited", "Too many frames: slow down.")
            return
        try:
            frame = parse(text_data, bytes_data)
        except BadFrame as exc:
            await self._error(exc.code, exc.message)
            return
        if frame["type"] == "ping":
            await self._send({"type": "pong", "id": frame.get("id", 0)})
            return
        if frame["type"] != "hello" and self.principal is None:
            await self._error("not_joined", "Send hello first.")
            return
        handler = getattr(self, f"on_{frame['type']}")
        try:
            await handler(frame)
        except NoMediaNodeAvailable:
            log.error("No media node for call %s", self._call_id())
            await self._error(
                "no_media_node",
                "No video server is available right now. Please contact the establishment.",
            )
        except JanusException as exc:
            log.warning("Janus failed for call %s: %s", self._call_id(), exc)
            await self._error("media_error", "The media server did not answer. Retrying may help.")
        except asyncio.CancelledError:
            raise
        except Exception:
            # A bug must cost one frame an error, never the connection or the process.
            log.exception("Frame %s failed for call %s", frame["type"], self._call_id())
            await self._error("internal_error", "The server could not handle this frame.")

    async def on_hello(self, frame: dict) -> None:
        if self.principal is not None:
            await self._error("already_joined", "This connection has already joined.")
            return
        principal = await database_sync_to_async(resolve_principal)(self.scope, frame["call"])
        if principal is None:
            await self._error("forbidden", "You may not join this call.", fatal=True)
            await self.close(code=4403)
            return
        call = principal.call
        if not call.is_open:
            await self._send(await database_sync_to_async(_state_frame)(call, self.language))
            await self.close(code=4404)
            return
        self.principal = principal
        await self.channel_layer.group_add(call_group(call.pk), self.channel_name)
        node, self.room = await hub.ensure_room(call)
        link = await hub.link(node)
        participant = await database_sync_to_async(_resume)(
            call, principal.role, frame.get("resume")
        )
        token = frame.get("resume") if participant else None
        if participant is None:
            participant, token = await database_sync_to_async(actions.do_join)(
                call, principal.role, staff=principal.staff
            )
        self.participant = participant
        if principal.role == "monitor":
            await database_sync_to_async(actions.do_start_watching)(
                call, principal.staff, participant
            )
        if principal.role in SIDES:
            self.attachment = await database_sync_to_async(actions.do_announce_attached)(
                participant, self.channel_name
            )
        reuse = bool(frame.get("media_alive")) and participant.janus_session is not None
        if reuse:
            try:
                await self._reattach(link, participant)
            except JanusException:
                reuse = False
        if principal.role in SIDES:
            await self._discard_media(link, participant, own=not reuse)
        if not reuse:
            await self._fresh_session(link)
        fresh_call = await database_sync_to_async(Call.objects.get)(pk=call.pk)
        welcome = {
            "type": "welcome",
            "call": call.pk,
            "role": principal.role,
            "resume": token,
            "ice_servers": ice_servers(f"p{participant.pk}"),
            "server_time": timezone.now().isoformat(),
            "publish": principal.role in SIDES and not reuse,
            "state": await database_sync_to_async(_state_frame)(fresh_call, self.language),
        }
        await self._send(welcome)
        if principal.role in SIDES and await database_sync_to_async(_peer_on_low_bandwidth)(
            call, principal.role
        ):
            # A page that reconnects (or reloads) has forgotten that the other side's link
            # is weak: it must send it little video again from the start.
            peer = _other_side(principal.role)
            await self._send({"type": "peer", "role": peer, "status": "low_bandwidth"})
        await self._subscribe_if_ready()

    async def _discard_media(self, link, participant: Participant, *, own: bool) -> None:
        """Destroy the Janus sessions of this side's media that no page will use again: the
        participant's own when the browser gave them up (``media_alive`` false), and those
        of earlier attachments of the side (another tab or device, now replaced).

        A PeerConnection whose packets stopped tells Janus nothing, so its publisher would
        stay in the room, which takes two: the new one would be refused. Gone already (its
        session timeout, a restarted or another node) is fine."""
        stale = await database_sync_to_async(_earlier_media)(participant)
        if own and participant.janus_session is not None:
            stale.append(participant)
        for holder in stale:
            try:
                session = link.client.sessions.get(holder.janus_session)
                if session is None:
                    session = await link.client.claim_session(holder.janus_session)
                await session.destroy()
            except JanusException:
                pass
            if holder is not participant:
                await database_sync_to_async(actions.do_forget_media)(holder)

    async def _fresh_session(self, link) -> None:
        self.janus_session = await link.client.create_session()
        fields = {"janus_session": self.janus_session.id, "media_up": False, "feed_id": None}
        if self.principal.role in SIDES:
            self.publisher = await self.janus_session.attach(affinity=self.room.id)
            self._listen(self.publisher, self._on_publisher_event)
            fields["janus_publisher_handle"] = self.publisher.id
        fields["janus_subscriber_handle"] = None
        fields["subscribed_feeds"] = []
        await database_sync_to_async(actions.do_note_media)(self.participant, **fields)

    async def _reattach(self, link, participant: Participant) -> None:
        """The browser's media survived a dropped WebSocket: take its Janus objects back."""
        session = link.client.sessions.get(participant.janus_session)
        if session is None:
            session = await link.client.claim_session(participant.janus_session)
        self.janus_session = session
        if participant.janus_publisher_handle:
            self.publisher = session.adopt_handle(participant.janus_publisher_handle)
            self._listen(self.publisher, self._on_publisher_event)
        if participant.janus_subscriber_handle:
            self.subscriber = session.adopt_handle(participant.janus_subscriber_handle)
            self._listen(self.subscriber, self._on_subscriber_event)
            self.subscribed_feeds = tuple(participant.subscribed_feeds)

    async def on_publish(self, frame: dict) -> None:
        if self.publisher is None:
            await self._error("not_a_publisher", "This participant does not publish.")
            return
        publication = await rooms.publish(
            self.publisher,
            self.room,
            {"type": "offer", "sdp": frame["sdp"]},
            display=self.principal.role,
        )
        await database_sync_to_async(actions.do_note_media)(
            self.participant, feed_id=publication.feed_id
        )
        self.participant.feed_id = publication.feed_id
        await self._send({"type": "publish_answer", "sdp": publication.answer["sdp"]})

    async def on_answer(self, frame: dict) -> None:
        if self.subscriber is None:
            await self._error("no_subscription", "There is no offer to answer.")
            return
        await rooms.start(self.subscriber, {"type": "answer", "sdp": frame["sdp"]})

    async def on_candidate(self, frame: dict) -> None:
        handle = self.publisher if frame["pc"] == "publisher" else self.subscriber
        if handle is None:
            await self._error("no_such_pc", f"No {frame['pc']} connection.")
            return
        await rooms.trickle(handle, frame["candidate"])

    async def on_bandwidth(self, frame: dict) -> None:
        """A side's link is weak (or fine again): the other side adapts what it sends.

        Without simulcast Janus has no lower layer to forward, so the sender must send
        less; staff see the weak link on the live wall, as for Janus's slowlink events.
        """
        if self.principal.role not in SIDES or self.participant is None:
            # A monitor, or a socket whose hello failed (no video server): nothing to adapt.
            await self._error("not_a_publisher", "This participant does not publish.")
            return
        await database_sync_to_async(actions.do_set_low_bandwidth)(self.participant, frame["low"])

    async def on_leave(self, frame: dict) -> None:
        role = self.principal.role
        if role in SIDES:
            reason = (
                Call.EndReason.HUNG_UP_RELATIVE
                if role == "relative"
                else Call.EndReason.HUNG_UP_DETAINEE
            )
            await database_sync_to_async(actions.do_end_call)(self.principal.call, reason, by=role)
        await self._teardown(destroy=True)
        await self.close(code=1000)

    # --- Janus events ------------------------------------------------------------------

    def _listen(self, handle: Handle, callback) -> None:
        self._unlisten.append(handle.on_event(callback))

    def _spawn(self, coro) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_publisher_event(self, event: JanusEvent) -> None:
        if event.kind == "webrtcup":
            self._spawn(self._media_up())
        elif event.kind in ("hangup", SESSION_LOST):
            self._spawn(self._announce("left"))
        elif event.kind == "slowlink" and self.participant is not None:
            self._spawn(database_sync_to_async(actions.do_note_slowlink)(self.participant))
        elif event.kind == CONNECTION_LOST:
            log.info("Janus connection lost under call %s", self._call_id())

    def _on_subscriber_event(self, event: JanusEvent) -> None:
        if event.kind == "event" and event.data.get("videoroom") == "updated" and event.jsep:
            # Janus renegotiates the subscription when a feed leaves (one that comes back
            # is a new feed, subscribed afresh): the browser must answer on the connection
            # it has, not build a new one.
            self._spawn(
                self._send(
                    {"type": "subscribe_offer", "sdp": event.jsep["sdp"], "renegotiate": True}
                )
            )

    async def _media_up(self) -> None:
        await database_sync_to_async(actions.do_mark_media_up)(
            self.principal.call, self.principal.role
        )
        await self._announce("media_up")

    async def _announce(self, status: str) -> None:
        await database_sync_to_async(actions.do_announce_peer)(
            self.principal.call.pk,
            self.principal.role,
            status,
            feed=self.participant.feed_id if self.participant else None,
        )

    async def _subscribe_if_ready(self) -> None:
        """Subscribe to the other side (or, for a monitor, to both) once they publish."""
        role = self.principal.role
        if role == "monitor":
            feeds = tuple(await database_sync_to_async(_live_feeds)(self.principal.call))
        else:
            feed = await database_sync_to_async(_peer_feed)(self.principal.call, role)
            feeds = (feed,) if feed else ()
        if not feeds or feeds == self.subscribed_feeds:
            return
        if self.subscriber is not None:
            try:
                await self.subscriber.detach()
            except JanusException:
                pass
        self.subscriber = await self.janus_session.attach(affinity=self.room.id)
        self._listen(self.subscriber, self._on_subscriber_event)
        try:
            offer = await rooms.subscribe(self.subscriber, self.room, list(feeds))
        except JanusError as exc:
            if exc.code != rooms.NO_SUCH_FEED:
                raise
            # The other side's publisher hung up (its "left" was announced) and the
            # database still names its feed: nothing to subscribe to until its next
            # media_up. An error here would have the page tear its own media down.
            log.info("Call %s: feed %s gone, not subscribing", self._call_id(), feeds)
            handle, self.subscriber = self.subscriber, None
            with contextlib.suppress(JanusException):
                await handle.detach()
            return
        self.subscribed_feeds = feeds
        await database_sync_to_async(actions.do_note_media)(
            self.participant,
            janus_subscriber_handle=self.subscriber.id,
            subscribed_feeds=list(feeds),
        )
        await self._send({"type": "subscribe_offer", "sdp": offer["sdp"]})

    async def _subscribe_to_the_new_feed(self) -> None:
        """On the other side's media_up. Events arrive outside receive()'s error handling:
        a failure here must cost an error frame, not the socket and its cleanup."""
        if self.janus_session is None:
            return  # its hello got no media (an error said so); the page tries again
        try:
            await self._subscribe_if_ready()
        except JanusException as exc:
            log.warning("Janus failed subscribing for call %s: %s", self._call_id(), exc)
            await self._error("media_error", "The media server did not answer. Retrying may help.")

    # --- server events -------------------------------------------------------------------

    async def server_event(self, message: dict) -> None:
        event = message["event"]
        if self.principal is None:
            return
        kind = event["type"]
        if kind == "call.state":
            final = event["state"] in Call.FINAL_STATES
            # The event was made in the language of whoever ended the call.
            with translation.override(self.language):
                label = end_label(event["end_reason"], event.get("end_category", ""))
            frame = {**event, "type": "state", "final": final, "end_reason_label": label}
            await self._send(frame)
            if final:
                await self._teardown(destroy=True)
                await self.close(code=1000)
        elif kind == "call.notice":
            text = event["text"]
            if event.get("preset") in CallWarning.Preset.values:
                with translation.override(self.language):
                    text = str(CallWarning.Preset(event["preset"]).label)
            await self._send({"type": "notice", "text": text})
        elif kind == "call.peer":
            if event["role"] != self.principal.role:
                await self._send({"type": "peer", "role": event["role"], "status": event["status"]})
                if event["status"] == "media_up":
                    await self._subscribe_to_the_new_feed()
        elif kind == "call.code" and self.principal.role == "kiosk":
            await self._send({**event, "type": "code"})
        elif kind == "call.attached":
            if event["role"] != self.principal.role or event["channel"] == self.channel_name:
                return
            newer = (event["participant"], event["attachment"])
            if self.attachment is not None and newer < self.attachment:
                # An older page of this side, whose hello crossed ours: it yields, not us.
                return
            await self._error(
                "replaced", "This side of the call is now open in another page.", fatal=True
            )
            if self.participant is not None and event["participant"] != self.participant.pk:
                # A new participant never takes an older one's Janus session: ours would
                # keep a publisher in the room until Janus timed it out.
                await self._teardown(destroy=True)
                await database_sync_to_async(actions.do_forget_media)(self.participant)
            else:
                # The same participant in a newer page (a reload, a duplicated tab): it
                # may have taken our session back. Let go of it without releasing it.
                await self._teardown(destroy=False, release=False)
            await self.close(code=4409)

    # --- leaving ---------------------------------------------------------------------------

    async def disconnect(self, code: int) -> None:
        if self.principal is not None:
            await self.channel_layer.group_discard(
                call_group(self.principal.call.pk), self.channel_name
            )
            if self.principal.role == "monitor" and self.participant is not None:
                await database_sync_to_async(actions.do_stop_watching)(
                    self.principal.call, self.principal.staff, self.participant
                )
                # A monitor has nothing for Janus to keep: its subscription goes now.
                await self._teardown(destroy=True)
                return
        # Keep the Janus session: the browser may come back with its resume token, and its
        # PeerConnection to Janus is still up. Janus frees it after its session timeout.
        await self._teardown(destroy=False)

    async def _teardown(self, *, destroy: bool, release: bool = True) -> None:
        for unlisten in self._unlisten:
            try:
                unlisten()
            except ValueError:
                pass
        self._unlisten.clear()
        for task in list(self._tasks):
            task.cancel()
        session, self.janus_session = self.janus_session, None
        if session is None:
            return
        if destroy:
            try:
                await session.destroy()
            except JanusException:
                pass
        elif release:
            session.release()

    # --- out ---------------------------------------------------------------------------------

    def _call_id(self) -> int | None:
        return self.principal.call.pk if self.principal else None

    async def _send(self, frame: dict) -> None:
        import json

        await self.send(text_data=json.dumps(frame))

    async def _error(self, code: str, message: str, *, fatal: bool = False) -> None:
        await self._send({"type": "error", "code": code, "message": message, "fatal": fatal})
