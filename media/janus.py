"""Asyncio client for the Janus WebSocket API and admin API.

One WebSocket carries every session of a ``JanusClient``. Requests are matched to
responses by transaction; asynchronous events go to per-handle queues and
listeners. When the WebSocket drops, the client reconnects with backoff and
claims its sessions again: Janus keeps them (and their PeerConnections) for
``reclaim_session_timeout`` seconds, so a WebSocket blip or a restart of the
parloir process does not end the calls. A new process adopts the sessions it
finds in the database with ``claim_session`` and ``Session.adopt_handle``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import secrets
import ssl
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Self

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

log = logging.getLogger(__name__)

Json = dict[str, Any]

JANUS_PROTOCOL = "janus-protocol"
JANUS_ADMIN_PROTOCOL = "janus-admin-protocol"
VIDEOROOM = "janus.plugin.videoroom"

# Janus core error codes the client reacts to.
SESSION_NOT_FOUND = 458
HANDLE_NOT_FOUND = 459

# Event kinds sent by Janus, plus the ones the client adds on connection changes.
JANUS_EVENT_KINDS = frozenset(
    {"event", "webrtcup", "media", "hangup", "slowlink", "detached", "trickle"}
)
CONNECTION_LOST = "connection_lost"
RECONNECTED = "reconnected"
SESSION_LOST = "session_lost"

KEEPALIVE_SECONDS = 25.0
# Enough to spot a half-open TCP connection (cable pulled, Janus frozen) within seconds.
WS_PING_SECONDS = 5.0
EVENT_QUEUE_SIZE = 1000


class JanusException(Exception):
    """Anything that went wrong talking to Janus."""


class JanusError(JanusException):
    """Janus, or one of its plugins, answered with an error."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"Janus error {code}: {reason}")
        self.code = code
        self.reason = reason


class JanusTimeout(JanusException, TimeoutError):
    """No answer in time; the request may or may not have been carried out."""


class JanusConnectionLost(JanusException, ConnectionError):
    """The WebSocket to Janus is gone (or could not be opened)."""


class JanusSessionLost(JanusConnectionLost):
    """Janus no longer knows the session: it restarted, or the reclaim window passed."""


@dataclass(frozen=True)
class JanusEvent:
    """An asynchronous notification for a handle.

    ``data`` is the plugin's payload for ``event`` and the whole message otherwise.
    """

    kind: str
    data: Json
    jsep: Json | None = None
    message: Json = field(default_factory=dict)


def _error_from(message: Json) -> JanusError | None:
    if message.get("janus") == "error":
        error = message.get("error") or {}
        return JanusError(int(error.get("code", 0)), str(error.get("reason", "")))
    data = (message.get("plugindata") or {}).get("data") or {}
    if "error_code" in data:
        return JanusError(int(data["error_code"]), str(data.get("error", "")))
    return None


class _Socket:
    """A WebSocket to Janus with requests matched to answers by transaction."""

    def __init__(
        self,
        url: str,
        subprotocol: str,
        *,
        request_timeout: float,
        connect_timeout: float,
        secret_field: str,
        secret: str | None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.url = url
        self._ssl = ssl_context
        self.request_timeout = request_timeout
        self.connect_timeout = connect_timeout
        self._subprotocol = subprotocol
        self._secret_field = secret_field
        self._secret = secret
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._pending: dict[str, tuple[asyncio.Future[Json], bool]] = {}

    @property
    def connected(self) -> bool:
        return self._ws is not None

    async def connect(self) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _open(self) -> ClientConnection:
        try:
            return await connect(
                self.url,
                subprotocols=[self._subprotocol],  # type: ignore[list-item]
                open_timeout=self.connect_timeout,
                ping_interval=WS_PING_SECONDS,
                ping_timeout=WS_PING_SECONDS,
                close_timeout=1,
                compression=None,
                # Never through an HTTP proxy from the environment: media nodes are
                # reached directly, on the operator's own network.
                proxy=None,
                max_size=16 * 2**20,
                **({"ssl": self._ssl} if self.url.startswith("wss://") else {}),
            )
        except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as exc:
            raise JanusConnectionLost(f"Cannot connect to {self.url}: {exc}") from exc

    def _start_reader(self, ws: ClientConnection) -> None:
        self._ws = ws
        self._reader = asyncio.create_task(self._read(ws), name=f"janus-reader {self.url}")

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for raw in ws:
                try:
                    message = json.loads(raw)
                except ValueError:
                    log.warning("Janus %s sent invalid JSON: %.200r", self.url, raw)
                    continue
                try:
                    self._dispatch(message)
                except Exception:  # one odd message must not end the connection
                    log.exception("Cannot dispatch %.200r from Janus %s", message, self.url)
        except ConnectionClosed:
            pass
        finally:
            if self._ws is ws:
                self._ws = None
            lost = JanusConnectionLost(f"Connection to {self.url} lost")
            for future, _ in self._pending.values():
                if not future.done():
                    future.set_exception(lost)
            self._pending.clear()

    def _dispatch(self, message: Json) -> None:
        transaction = message.get("transaction")
        pending = self._pending.get(transaction) if transaction else None
        if pending is not None:
            future, ack_is_final = pending
            if message.get("janus") == "ack" and not ack_is_final:
                return  # the plugin's answer follows as an event with the same transaction
            del self._pending[transaction]
            if not future.done():
                future.set_result(message)
            return
        self._unsolicited(message)

    def _unsolicited(self, message: Json) -> None:
        log.debug("Unsolicited message from %s: %s", self.url, message)

    async def request(
        self, payload: Json, *, ack_is_final: bool = False, timeout: float | None = None
    ) -> Json:
        """Send ``payload`` and return Janus's answer, raising ``JanusError`` on errors."""
        ws = self._ws
        if ws is None:
            raise JanusConnectionLost(f"Not connected to {self.url}")
        transaction = secrets.token_hex(8)
        message = {**payload, "transaction": transaction}
        if self._secret:
            message[self._secret_field] = self._secret
        future: asyncio.Future[Json] = asyncio.get_running_loop().create_future()
        self._pending[transaction] = (future, ack_is_final)
        try:
            try:
                await ws.send(json.dumps(message))
            except ConnectionClosed as exc:
                raise JanusConnectionLost(f"Connection to {self.url} lost") from exc
            try:
                answer = await asyncio.wait_for(future, timeout or self.request_timeout)
            except TimeoutError:
                raise JanusTimeout(
                    f"No answer from {self.url} to {payload.get('janus')} within "
                    f"{timeout or self.request_timeout} s"
                ) from None
        finally:
            self._pending.pop(transaction, None)
        error = _error_from(answer)
        if error is not None:
            raise error
        return answer

    async def _close_socket(self) -> None:
        ws, reader = self._ws, self._reader
        self._ws = None
        if ws is not None:
            await ws.close()
        if reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await reader


@dataclass
class _Waiter:
    future: asyncio.Future[JanusEvent]
    kind: str
    predicate: Callable[[JanusEvent], bool] | None


class Handle:
    """A plugin handle. Its asynchronous events land in ``events`` and go to listeners."""

    def __init__(self, session: Session, handle_id: int, plugin: str) -> None:
        self.session = session
        self.id = handle_id
        self.plugin = plugin
        self.webrtc_up = asyncio.Event()
        self.events: asyncio.Queue[JanusEvent] = asyncio.Queue(EVENT_QUEUE_SIZE)
        self._listeners: list[Callable[[JanusEvent], None]] = []
        self._waiters: list[_Waiter] = []

    def __repr__(self) -> str:
        return f"<Handle {self.id} {self.plugin} session={self.session.id}>"

    def on_event(self, listener: Callable[[JanusEvent], None]) -> Callable[[], None]:
        """Call ``listener`` for every event; returns a function that unsubscribes it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def expect(
        self, kind: str, predicate: Callable[[JanusEvent], bool] | None = None
    ) -> asyncio.Future[JanusEvent]:
        """A future for the next ``kind`` event matching ``predicate``.

        Create it before the request that triggers the event, then await it. A wait
        for an event from Janus fails with ``JanusConnectionLost`` if the connection
        drops meanwhile, since the event may be lost in the gap; waits for the
        client's own ``reconnected`` or ``session_lost`` go on.
        """
        future: asyncio.Future[JanusEvent] = asyncio.get_running_loop().create_future()
        if self.session.lost:
            # The session may have been lost while this handle was being attached,
            # before the handle was known to it: no event will ever come.
            lost = JanusEvent(SESSION_LOST, {"session_id": self.session.id})
            if kind == SESSION_LOST:
                future.set_result(lost)
            else:
                future.set_exception(JanusSessionLost(f"Session of {self!r} lost"))
            return future
        self._waiters.append(_Waiter(future, kind, predicate))
        return future

    async def wait_for(
        self, kind: str, predicate: Callable[[JanusEvent], bool] | None = None, *, timeout: float
    ) -> JanusEvent:
        future = self.expect(kind, predicate)
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise JanusTimeout(f"No {kind} event on {self!r} within {timeout} s") from None

    def _deliver(self, event: JanusEvent) -> None:
        if event.kind == "webrtcup":
            self.webrtc_up.set()
        elif event.kind in ("hangup", "detached", SESSION_LOST):
            self.webrtc_up.clear()
        if self.events.full():
            self.events.get_nowait()  # a consumer that stopped reading loses the oldest
        self.events.put_nowait(event)
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:  # a broken listener must not break the others
                log.exception("Listener of %r failed on %s", self, event.kind)
        failure: JanusException | None = None
        if event.kind == CONNECTION_LOST:
            failure = JanusConnectionLost(f"Connection lost while waiting on {self!r}")
        elif event.kind == SESSION_LOST:
            failure = JanusSessionLost(f"Session of {self!r} lost")
        still_waiting = []
        for waiter in self._waiters:
            if waiter.future.done():
                continue
            if waiter.kind == event.kind and (not waiter.predicate or waiter.predicate(event)):
                waiter.future.set_result(event)
            elif failure is not None and (
                waiter.kind in JANUS_EVENT_KINDS or event.kind == SESSION_LOST
            ):
                waiter.future.set_exception(failure)
            else:
                still_waiting.append(waiter)
        self._waiters = still_waiting

    async def message(
        self, body: Json, jsep: Json | None = None, *, timeout: float | None = None
    ) -> tuple[Json, Json | None]:
        """Send a plugin request; return the plugin's data and the JSEP, if any."""
        payload: Json = {"janus": "message", "body": body}
        if jsep is not None:
            payload["jsep"] = jsep
        answer = await self.session.request(payload, handle_id=self.id, timeout=timeout)
        return (answer.get("plugindata") or {}).get("data") or {}, answer.get("jsep")

    async def trickle(self, candidate: Json | list[Json] | None) -> None:
        """Send one candidate, several, or (with ``None``) the end of candidates."""
        payload: Json = {"janus": "trickle"}
        if candidate is None:
            payload["candidate"] = {"completed": True}
        elif isinstance(candidate, list):
            payload["candidates"] = candidate
        else:
            payload["candidate"] = candidate
        await self.session.request(payload, handle_id=self.id, ack_is_final=True)

    async def hangup(self) -> None:
        await self.session.request({"janus": "hangup"}, handle_id=self.id)

    async def detach(self) -> None:
        try:
            await self.session.request({"janus": "detach"}, handle_id=self.id)
        finally:
            self.session.handles.pop(self.id, None)


class Session:
    """A Janus session: a group of handles kept alive by keepalives."""

    def __init__(self, client: JanusClient, session_id: int) -> None:
        self.client = client
        self.id = session_id
        self.handles: dict[int, Handle] = {}
        # Handles Janus detached: when a session times out, Janus may detach its handles
        # before it says "timeout", and a wait on one of them must still hear of the loss.
        self._detached: weakref.WeakSet[Handle] = weakref.WeakSet()
        self.lost = False
        self._keepalive = asyncio.create_task(self._keep_alive(), name=f"janus-keepalive {self.id}")

    def __repr__(self) -> str:
        return f"<Session {self.id}>"

    async def request(
        self,
        payload: Json,
        *,
        handle_id: int | None = None,
        ack_is_final: bool = False,
        timeout: float | None = None,
    ) -> Json:
        if self.lost:
            raise JanusSessionLost(f"{self!r} is lost")
        if not self.client.up:
            raise JanusConnectionLost(f"Not connected to {self.client.url}")
        payload = {**payload, "session_id": self.id}
        if handle_id is not None:
            payload["handle_id"] = handle_id
        try:
            return await self.client.request(payload, ack_is_final=ack_is_final, timeout=timeout)
        except JanusError as exc:
            if exc.code == SESSION_NOT_FOUND:
                self._lose()
                raise JanusSessionLost(f"{self!r} is lost: {exc.reason}") from exc
            raise

    async def attach(self, plugin: str = VIDEOROOM, *, affinity: int | None = None) -> Handle:
        """A new handle. Handles given the same ``affinity`` (a call's room) share one of
        Janus's media threads, when it has a fixed pool of them (``event_loops``): a
        packet relayed from a publisher to its subscribers then stays in that thread
        instead of waking another thread per packet and subscriber."""
        payload: Json = {"janus": "attach", "plugin": plugin}
        if affinity is not None:
            loops = await self.client.event_loops()
            if loops:
                payload["loop_index"] = affinity % loops
        answer = await self.request(payload)
        return self.adopt_handle(int(answer["data"]["id"]), plugin)

    def adopt_handle(self, handle_id: int, plugin: str = VIDEOROOM) -> Handle:
        """Take over a handle created earlier, by this process or a previous one."""
        handle = self.handles.get(handle_id)
        if handle is None:
            handle = self.handles[handle_id] = Handle(self, handle_id, plugin)
        return handle

    async def destroy(self) -> None:
        try:
            await self.request({"janus": "destroy"})
        finally:
            self._forget()

    def release(self) -> None:
        """Stop keeping the session alive here without destroying it in Janus.

        Janus keeps it (and its PeerConnections) until its session timeout, so a
        browser that re-attaches, or another process, can claim it meanwhile.
        """
        self._forget()

    async def _keep_alive(self) -> None:
        while not self.lost:
            await asyncio.sleep(self.client.keepalive_interval)
            if not self.client.up:
                continue  # the client reclaims the session when it reconnects
            try:
                await self.request({"janus": "keepalive"}, ack_is_final=True)
            except (JanusConnectionLost, JanusTimeout) as exc:
                log.info("Keepalive of %r failed: %s", self, exc)

    def _forget(self) -> None:
        self._keepalive.cancel()
        self.client.sessions.pop(self.id, None)

    def _lose(self) -> None:
        if self.lost:
            return
        self.lost = True
        self._forget()
        log.warning("Janus %s lost %r", self.client.url, self)
        for handle in [*self.handles.values(), *self._detached]:
            handle._deliver(JanusEvent(SESSION_LOST, {"session_id": self.id}))

    def _deliver(self, message: Json) -> None:
        kind = message.get("janus")
        if kind == "timeout":
            self._lose()
            return
        if kind not in JANUS_EVENT_KINDS:
            return
        sender = message.get("sender")
        handle = self.handles.get(int(sender)) if sender is not None else None
        if handle is None:
            log.debug("Event for unknown handle %s on %r: %s", sender, self, message)
            return
        if kind == "event":
            data = (message.get("plugindata") or {}).get("data") or {}
        else:
            data = message
        handle._deliver(JanusEvent(kind, data, message.get("jsep"), message))
        if kind == "detached":
            self.handles.pop(handle.id, None)
            self._detached.add(handle)


class JanusClient(_Socket):
    """The Janus API over one WebSocket, with sessions reclaimed after reconnection."""

    def __init__(
        self,
        url: str,
        *,
        api_secret: str | None = None,
        request_timeout: float = 10.0,
        connect_timeout: float = 5.0,
        reconnect: bool = True,
        backoff: tuple[float, float] = (0.1, 5.0),
        keepalive_interval: float = KEEPALIVE_SECONDS,
        on_state: Callable[[str], None] | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(
            url,
            JANUS_PROTOCOL,
            request_timeout=request_timeout,
            connect_timeout=connect_timeout,
            secret_field="apisecret",
            secret=api_secret,
            ssl_context=ssl_context,
        )
        self.sessions: dict[int, Session] = {}
        self.reconnect = reconnect
        # Must stay below Janus's session_timeout (60 s in our configuration).
        self.keepalive_interval = keepalive_interval
        self._backoff = backoff
        self._on_state = on_state
        self._closing = False
        self._up = asyncio.Event()
        self._supervisor: asyncio.Task[None] | None = None
        self._event_loops: int | None = None

    @property
    def up(self) -> bool:
        """Connected, with every session reclaimed after the last reconnection."""
        return self._up.is_set()

    async def connect(self) -> None:
        """Open the WebSocket; raises ``JanusConnectionLost`` if Janus does not answer."""
        self._start_reader(await self._open())
        self._up.set()
        self._supervisor = asyncio.create_task(self._supervise(), name=f"janus {self.url}")

    async def wait_connected(self, timeout: float) -> None:
        try:
            await asyncio.wait_for(self._up.wait(), timeout)
        except TimeoutError:
            raise JanusConnectionLost(f"Not reconnected to {self.url} within {timeout} s")

    async def close(self, *, destroy_sessions: bool = False) -> None:
        """Close the connection. Sessions are kept by default so that another process
        (or this one, restarted) can claim them within the reclaim window."""
        if destroy_sessions:
            for session in list(self.sessions.values()):
                with contextlib.suppress(JanusException):
                    await session.destroy()
        self._closing = True
        self._up.clear()
        for session in list(self.sessions.values()):
            session._keepalive.cancel()
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
        await self._close_socket()

    async def info(self) -> Json:
        return await self.request({"janus": "info"})

    async def event_loops(self) -> int:
        """How many media threads Janus has for parloir to choose from (0: none, Janus
        then gives each handle a thread of its own). Asked once per connection."""
        if self._event_loops is None:
            info = await self.info()
            choosable = info.get("loop-indication") is True
            self._event_loops = int(info.get("static-event-loops") or 0) if choosable else 0
        return self._event_loops

    async def create_session(self) -> Session:
        answer = await self.request({"janus": "create"})
        session = Session(self, int(answer["data"]["id"]))
        self.sessions[session.id] = session
        return session

    async def claim_session(self, session_id: int) -> Session:
        """Take over a session whose WebSocket is gone (e.g. the previous process's)."""
        session = self.sessions.get(session_id) or Session(self, session_id)
        self.sessions[session_id] = session
        try:
            await self.request({"janus": "claim", "session_id": session_id})
        except JanusError as exc:
            session._lose()
            if exc.code == SESSION_NOT_FOUND:
                raise JanusSessionLost(f"Janus no longer knows session {session_id}") from exc
            raise
        return session

    def _unsolicited(self, message: Json) -> None:
        session_id = message.get("session_id")
        session = self.sessions.get(int(session_id)) if session_id is not None else None
        if session is not None:
            session._deliver(message)

    def _set_state(self, state: str) -> None:
        log.info("Janus %s: %s", self.url, state)
        if self._on_state is not None:
            try:
                self._on_state(state)
            except Exception:
                log.exception("on_state callback failed")

    async def _supervise(self) -> None:
        while True:
            assert self._reader is not None
            await asyncio.shield(self._reader)
            if self._closing:
                return
            self._up.clear()
            self._event_loops = None  # Janus may come back with another configuration
            self._set_state(CONNECTION_LOST)
            for session in list(self.sessions.values()):
                for handle in list(session.handles.values()):
                    handle._deliver(JanusEvent(CONNECTION_LOST, {"url": self.url}))
            if not self.reconnect:
                return
            self._start_reader(await self._reconnect())
            try:
                await self._reclaim()
            except (JanusConnectionLost, JanusTimeout) as exc:
                log.warning("Reclaiming sessions on %s failed: %s", self.url, exc)
                await self._close_socket()
                continue
            self._up.set()
            self._set_state(RECONNECTED)

    async def _reconnect(self) -> ClientConnection:
        low, high = self._backoff
        delay = low
        while True:
            try:
                return await self._open()
            except JanusConnectionLost as exc:
                log.debug("Reconnecting to %s failed: %s", self.url, exc)
            # Jitter keeps many parloir workers from hammering a restarting Janus in step.
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))  # noqa: S311
            delay = min(delay * 2, high)

    async def _reclaim(self) -> None:
        for session in list(self.sessions.values()):
            try:
                await self.request({"janus": "claim", "session_id": session.id})
            except JanusError as exc:
                log.warning("Cannot reclaim %r: %s", session, exc)
                session._lose()
                continue
            for handle in list(session.handles.values()):
                handle._deliver(JanusEvent(RECONNECTED, {"url": self.url}))


class JanusAdmin(_Socket):
    """The Janus admin API: server state and per-handle ICE and packet statistics."""

    def __init__(
        self,
        url: str,
        admin_secret: str | None,
        *,
        request_timeout: float = 5.0,
        connect_timeout: float = 5.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(
            url,
            JANUS_ADMIN_PROTOCOL,
            request_timeout=request_timeout,
            connect_timeout=connect_timeout,
            secret_field="admin_secret",
            secret=admin_secret,
            ssl_context=ssl_context,
        )

    async def connect(self) -> None:
        self._start_reader(await self._open())

    async def close(self) -> None:
        await self._close_socket()

    async def ping(self) -> None:
        await self.request({"janus": "ping"})

    async def info(self) -> Json:
        return await self.request({"janus": "info"})

    async def list_sessions(self) -> list[int]:
        return [int(s) for s in (await self.request({"janus": "list_sessions"}))["sessions"]]

    async def list_handles(self, session_id: int) -> list[int]:
        answer = await self.request({"janus": "list_handles", "session_id": session_id})
        return [int(h) for h in answer["handles"]]

    async def loops_info(self) -> dict[int, int]:
        """How many handles each of Janus's media threads serves (empty without a pool)."""
        answer = await self.request({"janus": "loops_info"})
        return {int(loop["id"]): int(loop["handles"]) for loop in answer.get("loops") or []}

    async def handle_info(self, session_id: int, handle_id: int) -> Json:
        answer = await self.request(
            {"janus": "handle_info", "session_id": session_id, "handle_id": handle_id}
        )
        return answer["info"]

    async def message_plugin(self, plugin: str, request: Json) -> Json:
        """A plugin request without a session, e.g. listing the VideoRoom's rooms."""
        answer = await self.request(
            {"janus": "message_plugin", "plugin": plugin, "request": request}
        )
        response = answer.get("response") or {}
        if "error_code" in response:
            raise JanusError(int(response["error_code"]), str(response.get("error", "")))
        return response


def tls_context(ca_file: str | None) -> ssl.SSLContext:
    """Verifies a media node's certificate (name or address) against ``ca_file``, the
    operator's own CA, or the system's when none is given."""
    context = ssl.create_default_context(cafile=ca_file or None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context
