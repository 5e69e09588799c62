import asyncio
import json
import logging
import uuid

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.db import DatabaseError
from redis.exceptions import RedisError

from chat import protocol, socket_guard
from chat.answering import answer_events, warm_up
from chat.generation import get_backend
from chat.protocol import ProtocolError, Question, Stop
from ragsite.limits import allowed

logger = logging.getLogger(__name__)


class ChatConsumer(AsyncWebsocketConsumer):
    """Thin edge: parse a frame, run one answer in a task, forward its events.

    The answer runs in its own task because Channels handles one frame at a time; a
    "stop" frame or a disconnect cancels it. The socket speaks for its session only while
    that session is valid (chat.socket_guard): it checks before every question, on a timer,
    and when told to through the channel layer. It reads the layer in its own task rather
    than through Channels' dispatch, so a Redis outage cannot end the socket or an answer.
    """

    channel_layer_alias = None
    LOGGED_OUT = 4401
    TOO_MANY = 4429

    async def connect(self) -> None:
        self.user = self.scope.get("user")
        self.answer_task: asyncio.Task | None = None
        self.guards: list[asyncio.Task] = []
        self.closed = False
        self.slot: str | None = None
        self.session_key = getattr(self.scope.get("session"), "session_key", None)
        if self.user is None or not self.user.is_authenticated or not self.session_key:
            await self.close(code=self.LOGGED_OUT)
            return
        self.slot = uuid.uuid4().hex
        await self.accept()  # accepted first, so that a refusal can say why in words
        if not await socket_guard.slot_take(self.user.pk, self.slot):
            limit = settings.CHAT_SOCKETS_PER_USER
            await self.send_event(
                protocol.error(f"You have {limit} chat windows open already; close one and reload this page.")
            )
            self.slot = None
            await self.close(code=self.TOO_MANY)
            return
        self.guards = [asyncio.create_task(self.listen()), asyncio.create_task(self.recheck_often())]
        asyncio.get_running_loop().run_in_executor(None, warm_up, get_backend())

    async def disconnect(self, code: int) -> None:
        self.closed = True
        for task in [getattr(self, "answer_task", None), *getattr(self, "guards", [])]:
            if task is not None:
                task.cancel()
        await self.give_back_slot()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if not await allowed("chat-frames", str(self.user.pk), settings.CHAT_FRAMES_PER_MINUTE):
            await self.send_event(protocol.error("You are sending messages too fast; wait a minute."))
            return
        try:
            frame = protocol.parse_frame(text_data, max_chars=settings.CHAT_MAX_QUESTION_CHARS)
        except ProtocolError as exc:
            await self.send_event(protocol.error(str(exc)))
            return
        if isinstance(frame, Stop):
            if self.answer_task is not None:
                self.answer_task.cancel()
            return
        if self.answer_task is not None and not self.answer_task.done():
            await self.send_event(protocol.error("An answer is still being written; stop it or wait."))
            return
        try:
            if not await self.still_logged_in():
                return
        except DatabaseError:
            await self.send_event(protocol.error("The database is unavailable; ask again in a moment."))
            return
        self.answer_task = asyncio.create_task(self.answer(frame))

    async def still_logged_in(self) -> bool:
        """Reads the session and the user again; ends the socket, saying why, when either is gone."""
        user = await database_sync_to_async(socket_guard.session_user)(self.session_key)
        if user is not None and user.pk == self.user.pk:
            self.user = user  # current rights: a demoted superuser is no longer one
            return True
        await self.end_session()
        return False

    async def end_session(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.answer_task is not None:
            self.answer_task.cancel()
        await self.send_event(protocol.error("Your session has ended; log in again to keep asking."))
        await self.close(code=self.LOGGED_OUT)
        await self.give_back_slot()

    async def give_back_slot(self) -> None:
        slot, self.slot = getattr(self, "slot", None), None
        if slot:
            await socket_guard.slot_give_back(self.user.pk, slot)

    async def recheck_often(self) -> None:
        """Catches what no announcement reports (a session that expired, rows changed by SQL); keeps the slot."""
        every = float(settings.CHAT_SESSION_RECHECK_S)
        tick = min(every, socket_guard.SLOT_TTL_S / 3)
        waited = 0.0
        while True:
            await asyncio.sleep(tick)
            if self.closed:
                return
            waited += tick
            await socket_guard.slot_keep(self.user.pk, self.slot)
            if waited < every:
                continue
            waited = 0.0
            try:
                if not await self.still_logged_in():
                    return
            except DatabaseError:
                logger.warning("Socket session not rechecked: the database is unavailable")

    async def listen(self) -> None:
        """Joins this user's and this session's groups, and checks at once when told to."""
        layer = socket_guard.listening_layer()
        if layer is None:
            return
        channel = await layer.new_channel()
        groups = [socket_guard.user_group(self.user.pk), socket_guard.session_group(self.session_key)]
        joined = False
        try:
            while True:
                try:
                    if not joined:
                        for group in groups:
                            await layer.group_add(group, channel)
                        joined = True
                    message = await layer.receive(channel)
                except Exception:  # Redis away or the layer broken: the checks per question and timer still hold
                    logger.warning("Socket not listening for session changes; retrying", exc_info=True)
                    joined = False
                    await asyncio.sleep(socket_guard.SLOT_TTL_S / 12)
                    continue
                if message.get("type") == socket_guard.END:
                    await self.end_session()
                    return
                if message.get("type") == socket_guard.CHECK and not await self.still_logged_in():
                    return
        finally:
            if joined:
                for group in groups:
                    try:
                        await asyncio.shield(layer.group_discard(group, channel))
                    except (RedisError, OSError, asyncio.CancelledError):
                        pass

    async def answer(self, question: Question) -> None:
        message_id = None  # from answer.start, for the answer.end this edge sends itself
        try:
            async for frame in answer_events(
                user=self.user,
                question=question.text,
                conversation_id=question.conversation_id,
                backend=get_backend(),
            ):
                if frame["type"] == "answer.start":
                    message_id = frame["message_id"]
                await self.send_event(frame)
        except ProtocolError as exc:
            await self.send_event(protocol.error(str(exc)))
        except asyncio.CancelledError:
            if not self.closed:
                await self.send_event(protocol.answer_end(message_id=message_id, status="stopped"))
            raise
        except Exception as exc:  # the socket must never wait for an answer that died (answering stored it)
            logger.exception("Answer failed")
            reason = "The database is unavailable" if isinstance(exc, DatabaseError) else "Something went wrong"
            await self.send_event(protocol.error(f"{reason}; the answer was not finished. Ask again."))
            await self.send_event(protocol.answer_end(message_id=message_id, status="failed"))

    async def send_event(self, frame: protocol.Frame) -> None:
        await self.send(text_data=json.dumps(frame))
