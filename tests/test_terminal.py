"""The terminal channel when the database is not there."""

from __future__ import annotations

import io

from bot.app import App
from bot.channels.terminal import TerminalChannel, TerminalChat
from bot.settings import Settings


async def test_a_database_outage_is_told_in_the_persons_language():
    out = io.StringIO()
    settings = Settings(database_url="postgresql://postgres@127.0.0.1:1/nothing")
    app = App.build(settings, {"terminal": TerminalChannel(out)})
    try:
        chat = TerminalChat(app.engine, app.delivery, out, phone="+393331112222")
        await chat.say("ciao")
    finally:
        await app.close()
    assert "ho un problema tecnico momentaneo" in out.getvalue()
    assert "riprova tra qualche minuto" in out.getvalue()


async def test_terminal_prints_choices_as_a_numbered_list_and_files_inline():
    from bot.rendering import render_reply
    from flows.messages import Attachment, Choice, Reply

    out = io.StringIO()
    reply = Reply(
        "privacy.export_ready",
        choices=(Choice("a", "common.yes"), Choice("b", "common.no")),
        attachment=Attachment("data.json", "application/json", '{"a": 1}'),
    )
    await TerminalChannel(out).send("local", render_reply(reply, "en", "Europe/Rome"))
    assert out.getvalue() == (
        "  Here is all your data in a JSON file.\n\n  1. Yes\n  2. No\n"
        '  📎 File: data.json\n  {"a": 1}\n\n'
    )
