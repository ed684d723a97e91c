"""The aiogram driver keeps the classes it reads answers with (a speed fix, see the
comment on KEPT_RESPONSE_TYPES): the garbage collector must not make it build them again."""

from __future__ import annotations

import gc
from typing import Any

from aiogram.methods.base import Response
from aiogram.types import Message

from bot.channels.telegram_aiogram import KEPT_RESPONSE_TYPES


def test_the_answer_classes_survive_the_garbage_collector():
    gc.collect()
    assert Response[Message] in KEPT_RESPONSE_TYPES
    assert Response[list[dict[str, Any]]] in KEPT_RESPONSE_TYPES  # getUpdates, unread
