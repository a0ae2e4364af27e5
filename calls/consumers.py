"""The call WebSocket: browsers speak docs/signaling.md to parloir, parloir drives Janus.

One consumer per browser tab. The kiosk and each relative publish one stream and
subscribe to everyone else's; staff monitors only subscribe, to all. Janus sessions are
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

from autobahn.exception import Disconnected as PageGone
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.utils import timezone, translation

from calls import access as call_access
from calls import actions, codes
from calls.events import call_group, end_label
from calls.media import CallOver, hub
from calls.models import Call, CallRelative, CallWarning, MediaOutage, Participant
from calls.protocol import BadFrame, TokenBucket, parse
from media import rooms
from media.janus import (
    CONNECTION_LOST,
    RECONNECTED,
    SESSION_LOST,
    Handle,
    JanusError,
    JanusEvent,
    JanusException,
)
from media.placement import NoMediaNodeAvailable
from media.turn import ice_servers
from ops import metrics as ops_metrics
from parloir import access
from parloir.languages import language_of

log = logging.getLogger(__name__)

SIDES = ("kiosk", "relative")
# A side's socket closed without "leave": if no page of that side says hello again
# within this, the other side hears that it left. A reload or a network blip comes back
# sooner and is never announced.
LEFT_GRACE_SECONDS = 1.5
# Close codes a browser sends when its page goes away (a closed tab, a reload, leaving
# the page): the page closed, as opposed to its network failing.
PAGE_GONE_CODES = {1000, 1001}
# The reference client's own reconnections (its media restarting, a silent socket, the
# call's media moving): the page is still there and says hello again at once.
CLIENT_RECONNECT_CODES = {4000, 4001, 4002}
# Tasks that outlive their socket (the announcement that a side left).
_background: set[asyncio.Task] = set()


@dataclass
class Principal:
    call: Call
    role: str
    staff: Any = None
    # A relative: which of the call's relatives (their leg).
    leg: CallRelative | None = None

    @property
    def position(self) -> int | None:
        return self.leg.position if self.leg is not None else None


def resolve_principal(scope, call_id: int) -> Principal | None:
    """Who this socket speaks for, by the same helpers as the HTTP views."""
    session = scope.get("session")
    cookies = scope.get("cookies", {})
    if session is not None:
        kiosk = call_access.kiosk_principal(cookies, session)
        if kiosk is not None:
            call = call_access.kiosk_call(kiosk, call_id)
            return Principal(call, "kiosk") if call else None
        leg = call_access.portal_leg(session)
        if leg is not None and leg.call.pk == call_id:
            call = leg.call
            if leg.out or not actions.has_all_consents(call, leg=leg):
                return None
            return Principal(call, "relative", leg=leg)
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


def _resume(call: Call, principal: Principal, token: str | None) -> Participant | None:
    if not token:
        return None
    return Participant.objects.filter(
        call=call,
        role=principal.role,
        relative=principal.leg,
        left_at__isnull=True,
        resume_token_hash=codes.hash_token(token),
    ).first()


def _earlier_media(participant: Participant) -> list[Participant]:
    """Earlier participants of this side that still hold a Janus session. Never a newer
    one: of two pages saying hello at once, the older must not destroy the newer's media."""
    return list(
        Participant.objects.filter(
            call=participant.call_id,
            role=participant.role,
            relative=participant.relative_id,
            pk__lt=participant.pk,
        ).exclude(janus_session=None)
    )


def _live_sides(call: Call):
    """The pages of the call's sides whose media is up, the kiosk's first, then the
    relatives in the booking's order."""
    return (
        Participant.objects.filter(
            call=call, role__in=SIDES, left_at__isnull=True, media_up=True, feed_id__isnull=False
        )
        .select_related("relative__contact")
        .order_by("role", "relative__position")
    )


def _peer_feeds(call: Call, principal: Principal) -> list[int]:
    """The feeds a side subscribes to: everyone else's (the detainee's first)."""
    return [
        page.feed_id
        for page in _live_sides(call)
        if (page.role, page.relative_id) != (principal.role, getattr(principal.leg, "pk", None))
    ]


def _live_feeds(call: Call) -> list[int]:
    """The published feeds, the kiosk's first: monitors show the detainee, then the
    relatives (console-watch.js places the videos in this order)."""
    return [page.feed_id for page in _live_sides(call)]


def _who_sends(call: Call, feeds) -> dict[int, dict[str, Any]]:
    """Feed -> who publishes it, for the pages to place and name each picture."""
    found: dict[int, dict[str, Any]] = {}
    pages = (
        Participant.objects.filter(call=call, role__in=SIDES)
        .exclude(published_feeds=[])
        .select_related("relative__contact")
    )
    for page in pages:
        for feed in page.published_feeds:
            if feed in feeds:
                found[feed] = _side_of(page)
    return found


def _side_of(page: Participant) -> dict[str, Any]:
    leg = page.relative if page.role == "relative" else None
    return {
        "role": page.role,
        "relative": leg.position if leg else None,
        "name": leg.contact.first_name if leg and leg.contact_id else "",
    }


def _peer_on_low_bandwidth(call: Call, principal: Principal) -> bool:
    pages = Participant.objects.filter(call=call, role__in=SIDES, left_at__isnull=True)
    pages = pages.filter(low_bandwidth=True)
    if principal.role == "kiosk":
        return pages.exclude(role="kiosk").exists()
    # A relative adapts to the detainee's link (the picture it sends matters most).
    return pages.filter(role="kiosk").exists()


def _side_came_back(participant_id: int, attachments: int) -> bool:
    """Whether the side said hello again (or left the call) since its socket closed."""
    row = (
        Participant.objects.filter(pk=participant_id)
        .values("attachments", "left_at", "call__state")
        .first()
    )
    return (
        row is None
        or row["attachments"] != attachments
        or row["left_at"] is not None
        or row["call__state"] not in Call.OPEN_STATES
    )


async def _announce_if_gone(
    participant: Participant, attachments: int, reason: str, relative: int | None
) -> None:
    await asyncio.sleep(LEFT_GRACE_SECONDS)
    if await database_sync_to_async(_side_came_back)(participant.pk, attachments):
        return
    await database_sync_to_async(actions.do_announce_peer)(
        participant.call_id,
        participant.role,
        "left",
        feed=participant.feed_id,
        reason=reason,
        relative=relative,
    )


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
        self.node = None
        # The room this socket's media live in (Call.media_epoch when it joined).
        self.epoch: int | None = None
        self.janus_session = None
        # When the connection to Janus under our session dropped: the start of an outage
        # if it turns out Janus restarted.
        self.janus_lost_since = None
        # Janus's view of what this side sends: kind -> receiving.
        self.receiving: dict[str, bool] = {}
        self.announced_left = False
        self.subscribed_feeds: tuple = ()
        # This page said its link is weak: another relative's picture is left out of its
        # subscription (their voice stays), the detainee's picture first.
        self.low_bandwidth = False
        # Publisher mids per (feed, kind), from Janus's stream lists: how a subscription
        # names one stream of a feed.
        self.feed_mids: dict[tuple[int, str], str] = {}
        # This socket's place among its side's attachments (do_announce_attached).
        self.attachment: tuple[int, int] | None = None
        self._unlisten: list = []
        self._tasks: set[asyncio.Task] = set()
        self.left = False
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
        try:
            node, self.room = await hub.ensure_room(call)
        except CallOver:
            call = await database_sync_to_async(Call.objects.get)(pk=call.pk)
            await self._send(await database_sync_to_async(_state_frame)(call, self.language))
            await self.close(code=4404)
            return
        self.node = node
        link = await hub.link(node)
        participant = await database_sync_to_async(_resume)(call, principal, frame.get("resume"))
        token = frame.get("resume") if participant else None
        if participant is None:
            participant, token = await database_sync_to_async(actions.do_join)(
                call, principal.role, staff=principal.staff, leg=principal.leg
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
        self.epoch = fresh_call.media_epoch
        welcome = {
            "type": "welcome",
            "call": call.pk,
            "role": principal.role,
            "relative": principal.position,
            "epoch": self.epoch,
            "resume": token,
            "ice_servers": ice_servers(f"p{participant.pk}"),
            "server_time": timezone.now().isoformat(),
            "publish": principal.role in SIDES and not reuse,
            "state": await database_sync_to_async(_state_frame)(fresh_call, self.language),
        }
        await self._send(welcome)
        if principal.role in SIDES and reuse:
            # This side's media went on while its socket was away: if the other side was
            # told it left, it is back.
            await self._announce("back")
        if principal.role in SIDES and await database_sync_to_async(_peer_on_low_bandwidth)(
            call, principal
        ):
            # A page that reconnects (or reloads) has forgotten that another side's link
            # is weak: it must send it little video again from the start.
            peer = "relative" if principal.role == "kiosk" else "kiosk"
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
        bitrate = None
        if self.principal.role == "relative":
            relatives = await database_sync_to_async(self.principal.call.relatives.count)()
            if relatives > 1:
                # In a call of several, a relative is a small tile for everyone else: less
                # for each page to receive, and for Janus to forward to N - 1 pages
                # (docs/performance.md, bench_participants.py).
                bitrate = settings.GROUP_RELATIVE_VIDEO_BITRATE
        publication = await rooms.publish(
            self.publisher,
            self.room,
            {"type": "offer", "sdp": frame["sdp"]},
            display=self._side_name(),
            bitrate=bitrate,
        )
        await database_sync_to_async(actions.do_note_published)(
            self.participant, publication.feed_id
        )
        self.participant.feed_id = publication.feed_id
        # The page must know the cap: a sending estimate held at it is our choice, not a
        # weak link, and must not switch the page to its low-bandwidth mode.
        await self._send(
            {
                "type": "publish_answer",
                "sdp": publication.answer["sdp"],
                "max_bitrate": bitrate or rooms.DEFAULT_BITRATE,
            }
        )

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
        if self.principal.role == "relative" and self.low_bandwidth != frame["low"]:
            self.low_bandwidth = frame["low"]
            if self.janus_session is not None:
                await self._subscribe_if_ready()

    async def on_leave(self, frame: dict) -> None:
        self.left = True
        role = self.principal.role
        if role == "relative":
            # The call goes on while another relative is in it or expected.
            await database_sync_to_async(actions.do_relative_hang_up)(
                self.principal.call, self.principal.leg
            )
        elif role == "kiosk":
            await database_sync_to_async(actions.do_end_call)(
                self.principal.call, Call.EndReason.HUNG_UP_DETAINEE, by=role
            )
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
            self.receiving = {}
            self._spawn(self._media_up())
        elif event.kind == "hangup":
            self._spawn(self._announce("left", reason="network"))
        elif event.kind == "media":
            self._on_media_flow(event.data)
        elif event.kind == "slowlink" and self.participant is not None:
            ops_metrics.slowlink(self.participant.role, event.data)
            self._spawn(database_sync_to_async(actions.do_note_slowlink)(self.participant))
        else:
            self._on_janus_link_event(event)

    def _on_media_flow(self, data: dict) -> None:
        """Janus says whether it still receives this side's audio or video (no packet
        for a second: ``no_media_timer``). All of it stopped, with the socket still
        open, is this side's network failing: the other side hears it at once."""
        kind = str(data.get("type") or data.get("mid") or "")
        self.receiving[kind] = bool(data.get("receiving"))
        flowing = any(self.receiving.values())
        if not flowing and not self.announced_left:
            self.announced_left = True
            self._spawn(self._announce("left", reason="network"))
        elif flowing and self.announced_left:
            self.announced_left = False
            self._spawn(self._announce("back"))

    def _on_janus_link_event(self, event: JanusEvent) -> None:
        if event.kind == CONNECTION_LOST:
            log.info("Janus connection lost under call %s", self._call_id())
            self.janus_lost_since = self.janus_lost_since or timezone.now()
        elif event.kind == RECONNECTED:
            self.janus_lost_since = None
        elif event.kind == SESSION_LOST:
            # Janus no longer knows our session: it restarted (or our session timed out
            # there). The room went with it: the call needs a new one.
            self._spawn(self._media_lost())

    async def _media_lost(self) -> None:
        if self.room is None or self.node is None:
            return
        await database_sync_to_async(actions.do_media_lost)(
            self.principal.call,
            node_id=self.node.pk,
            room_id=self.room.id,
            cause=MediaOutage.Cause.MEDIA_RESTART,
            since=self.janus_lost_since,
            detail="session lost",
        )

    def _on_subscriber_event(self, event: JanusEvent) -> None:
        if event.kind in (CONNECTION_LOST, RECONNECTED, SESSION_LOST):
            self._on_janus_link_event(event)
        elif event.kind == "event" and event.data.get("videoroom") == "updated" and event.jsep:
            # Janus renegotiates the subscription when a feed leaves (one that comes back
            # is a new feed, subscribed afresh): the browser must answer on the connection
            # it has, not build a new one.
            self._spawn(self._offer_subscription(event.jsep, rooms.stream_map(event.data), True))

    async def _media_up(self) -> None:
        call = await database_sync_to_async(actions.do_mark_media_up)(
            self.principal.call, self.principal.role, self.principal.leg
        )
        self.principal.call = call
        self.announced_left = False
        await self._announce("media_up")
        if call.state == Call.State.LIVE and call.recorded:
            # The conversation is under way: Janus records this room from now on (a
            # no-op when the other side's page, or the room's creation, did it first).
            try:
                await hub.start_recording(call)
            except JanusException as exc:
                log.error("Call %s: cannot start recording: %s", call.pk, exc)

    async def _announce(self, status: str, *, reason: str = "") -> None:
        await database_sync_to_async(actions.do_announce_peer)(
            self.principal.call.pk,
            self.principal.role,
            status,
            feed=self.participant.feed_id if self.participant else None,
            reason=reason,
            relative=self.principal.position,
        )

    async def _subscribe_if_ready(self) -> None:
        """Subscribe to the other side (or, for a monitor, to both) once they publish."""
        if self.principal.role == "monitor":
            feeds = tuple(await database_sync_to_async(_live_feeds)(self.principal.call))
        else:
            feeds = tuple(
                await database_sync_to_async(_peer_feeds)(self.principal.call, self.principal)
            )
            if self.low_bandwidth and len(feeds) > 1:
                # On a weak link: the detainee's picture and voice, the others' voices.
                feeds = feeds[:1] + tuple(self._voice_only(feed) for feed in feeds[1:])
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
            offer, streams = await rooms.subscribe_with_streams(
                self.subscriber, self.room, [dict(f) if isinstance(f, tuple) else f for f in feeds]
            )
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
            subscribed_feeds=[f if isinstance(f, int) else dict(f)["feed"] for f in feeds],
        )
        await self._offer_subscription(offer, streams, False)

    def _voice_only(self, feed: int):
        """``feed``'s audio alone, when its publisher's audio mid is known (hashable, to
        compare subscriptions); else the whole feed."""
        mid = self.feed_mids.get((feed, "audio"))
        return (("feed", feed), ("mid", mid)) if mid else feed

    async def _offer_subscription(self, offer: dict, streams: list[dict], renegotiate: bool):
        """Janus's offer to the page, with who each stream is (a page showing several
        people places and names each picture by its ``mid``)."""
        feeds = {stream["feed"] for stream in streams}
        for stream in streams:
            if stream.get("feed_mid"):
                self.feed_mids[stream["feed"], stream["kind"]] = stream.pop("feed_mid")
            stream.pop("feed_mid", None)
        who = await database_sync_to_async(_who_sends)(self.principal.call, feeds)
        frame: dict[str, Any] = {
            "type": "subscribe_offer",
            "sdp": offer["sdp"],
            "streams": [
                {**stream, **who.get(stream["feed"], {"role": "", "relative": None, "name": ""})}
                for stream in streams
            ],
        }
        if renegotiate:
            frame["renegotiate"] = True
        await self._send(frame)

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
            if (event["role"], event.get("relative")) != (
                self.principal.role,
                self.principal.position,
            ):
                frame = {"type": "peer", "role": event["role"], "status": event["status"]}
                if event.get("relative") is not None:
                    frame["relative"] = event["relative"]
                if event.get("reason"):
                    frame["reason"] = event["reason"]
                await self._send(frame)
                if event["status"] == "media_up":
                    await self._subscribe_to_the_new_feed()
        elif kind == "call.media":
            await self._on_call_media(event)
        elif kind == "call.code" and self.principal.role == "kiosk":
            await self._send({**event, "type": "code"})
        elif kind == "call.relative_out":
            await self._on_relative_out(event)
        elif kind == "call.attached":
            if (event["role"], event.get("relative")) != (
                self.principal.role,
                self.principal.position,
            ) or event["channel"] == self.channel_name:
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

    async def _on_relative_out(self, event: dict) -> None:
        """A relative refused, hung up or was removed by staff. Their own page leaves the
        call (the others go on); every other page hears that they left."""
        if self.principal.role == "relative" and event["relative"] == self.principal.position:
            await self._send({"type": "out", "why": event["why"]})
            self.left = True
            # Closed first: the page hears a normal close whatever tearing down meets.
            await self.close(code=1000)
            await self._teardown(destroy=True)
            return
        if self.principal.role == "monitor":
            return
        await self._send(
            {
                "type": "peer",
                "role": "relative",
                "relative": event["relative"],
                "status": "left",
                "reason": event["why"],
            }
        )
        if self.principal.role == "kiosk" and event.get("janus_session") and self.node:
            # Their page may be away (a dropped socket) with its media still in the room:
            # the kiosk's process takes it out, so that nobody removed sees or hears more.
            link = await hub.link(self.node)
            with contextlib.suppress(JanusException):
                session = link.client.sessions.get(event["janus_session"])
                if session is None:
                    session = await link.client.claim_session(event["janus_session"])
                await session.destroy()

    async def _on_call_media(self, event: dict) -> None:
        """The call's room is gone (restart), or a node is back for a call that had none
        (available): this page sets its media up again, at once. Or the room is now
        recorded: our publisher sends a keyframe for the recording to begin with."""
        if event["status"] == "recording":
            if self.publisher is not None:
                try:
                    await rooms.request_keyframe(self.publisher)
                except JanusException as exc:
                    log.info("Call %s: no keyframe requested: %s", self._call_id(), exc)
            return
        if event["status"] == "restart":
            if self.epoch is not None and event["epoch"] <= self.epoch:
                return  # our media are already in the new room
            reason = "media_server"
        elif self.janus_session is None and self.principal.call.is_open:
            reason = "media_available"  # this page is waiting for a video server
        else:
            return
        await self._send({"type": "media_restart", "reason": reason, "epoch": event["epoch"]})
        # Nothing of the old room can be used again; our Janus session died with it (or
        # sits on a node that no longer answers, which times it out).
        await self._teardown(destroy=False)
        self.publisher = self.subscriber = self.room = None
        self.subscribed_feeds = ()

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
            if (
                self.participant is not None
                and self.attachment is not None
                and not self.left
                and code not in CLIENT_RECONNECT_CODES
            ):
                # Whether the page closed or its network failed, the other side must hear it
                # from us, not from the page: unless it comes back at once.
                reason = "closed" if code in PAGE_GONE_CODES else "network"
                task = asyncio.get_running_loop().create_task(
                    _announce_if_gone(
                        self.participant, self.attachment[1], reason, self.principal.position
                    )
                )
                _background.add(task)
                task.add_done_callback(_background.discard)
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

    def _side_name(self) -> str:
        """The publisher's name in the room (and in its recording's files)."""
        if self.principal.role == "relative" and self.principal.position:
            return f"relative{self.principal.position}"
        return self.principal.role

    def _call_id(self) -> int | None:
        return self.principal.call.pk if self.principal else None

    async def close(self, code=None, reason=None) -> None:
        self.closing = True
        await super().close(code=code, reason=reason)

    async def _send(self, frame: dict) -> None:
        import json

        if getattr(self, "closing", False):
            # Events still queued for a socket this side has closed (a relative taken
            # out, then the state that says so): sending after the close would make the
            # server drop the connection without its close frame.
            return
        try:
            await self.send(text_data=json.dumps(frame))
        except PageGone:
            # The page closed its socket while we were answering its last frame (a
            # hang-up racing Janus's error about the call it ends): nobody is left to
            # tell, and its disconnect comes next.
            self.closing = True

    async def _error(self, code: str, message: str, *, fatal: bool = False) -> None:
        await self._send({"type": "error", "code": code, "message": message, "fatal": fatal})
