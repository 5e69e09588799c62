import asyncio
import json
import logging

from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.db import DatabaseError

from chat import protocol
from chat.answering import answer_events, warm_up
from chat.generation import get_backend
from chat.protocol import ProtocolError, Question, Stop
from chat.ratelimit import frame_allowed

logger = logging.getLogger(__name__)


class ChatConsumer(AsyncWebsocketConsumer):
    """Thin edge: parse a frame, run one answer in a task, forward its events.

    The answer runs in its own task because Channels handles one frame at a time; a
    "stop" frame or a disconnect cancels it. It does not join the channel layer: nothing is
    sent to it from elsewhere, and an answer then needs no Redis.
    """

    channel_layer_alias = None

    async def connect(self) -> None:
        self.user = self.scope.get("user")
        self.answer_task: asyncio.Task | None = None
        self.closed = False
        if self.user is None or not self.user.is_authenticated:
            await self.close(code=4401)
            return
        await self.accept()
        asyncio.get_running_loop().run_in_executor(None, warm_up, get_backend())

    async def disconnect(self, code: int) -> None:
        self.closed = True
        if getattr(self, "answer_task", None) is not None:
            self.answer_task.cancel()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if not await frame_allowed(self.user.pk):
            await self.send_event(protocol.error_event("You are sending messages too fast; wait a minute."))
            return
        try:
            frame = protocol.parse_frame(text_data, max_chars=settings.CHAT_MAX_QUESTION_CHARS)
        except ProtocolError as exc:
            await self.send_event(protocol.error_event(str(exc)))
            return
        if isinstance(frame, Stop):
            if self.answer_task is not None:
                self.answer_task.cancel()
            return
        if self.answer_task is not None and not self.answer_task.done():
            await self.send_event(protocol.error_event("An answer is still being written; stop it or wait."))
            return
        self.answer_task = asyncio.create_task(self.answer(frame))

    async def answer(self, question: Question) -> None:
        try:
            async for item in answer_events(
                user=self.user,
                question=question.text,
                conversation_id=question.conversation_id,
                backend=get_backend(),
            ):
                await self.send_event(item)
        except ProtocolError as exc:
            await self.send_event(protocol.error_event(str(exc)))
        except asyncio.CancelledError:
            if not self.closed:
                await self.send_event(protocol.event("answer.end", status="stopped"))
            raise
        except Exception as exc:  # the socket must never wait for an answer that died
            logger.exception("Answer failed")
            reason = "The database is unavailable" if isinstance(exc, DatabaseError) else "Something went wrong"
            await self.send_event(protocol.error_event(f"{reason}; the answer was not finished. Ask again."))
            await self.send_event(protocol.event("answer.end", status="failed"))

    async def send_event(self, item: dict) -> None:
        await self.send(text_data=json.dumps(item))
