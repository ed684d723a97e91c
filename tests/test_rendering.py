"""Replies cut to the platforms' limits, with the keyboard on the last part."""

from __future__ import annotations

from bot.channels.telegram import TEXT_LIMIT, plan
from bot.rendering import Rendered, RenderedChoice, split_text


def test_a_long_text_is_cut_at_paragraphs_under_the_limit():
    paragraph = "Lorem ipsum dolor sit amet. " * 40
    text = "\n\n".join([paragraph.strip()] * 12)
    parts = split_text(text, TEXT_LIMIT)
    assert len(parts) == 4
    assert all(len(p) <= TEXT_LIMIT for p in parts)
    assert "\n\n".join(parts) == text


def test_a_text_without_breaks_is_cut_at_words_then_anywhere():
    assert split_text("parola " * 10, 20) == ["parola parola", "parola parola"] * 2 + [
        "parola parola"
    ]
    assert split_text("x" * 25, 10) == ["x" * 10, "x" * 10, "x" * 5]


def test_telegram_puts_the_keyboard_on_the_last_part_and_the_file_after():
    from flows.messages import Attachment

    message = Rendered(
        "a" * 5000,
        (RenderedChoice("ok", "OK"),),
        attachment=Attachment("data.json", "application/json", "{}"),
    )
    parts = plan(message)
    assert [len(p.text) for p in parts[:2]] == [4096, 904]
    assert [p.buttons for p in parts] == [(), (("OK", "ok"),), ()]
    assert parts[2].document is not None and parts[2].text == "data.json"


def test_quantities_are_written_the_readers_way_and_ids_are_not():
    from bot.rendering import render_reply
    from flows.messages import Count, Reply

    reply = Reply(
        "broadcast.progress", {"id": 1200, "sent": Count(1200), "recipients": Count(10_000)}
    )
    again = Reply.from_json(reply.to_json())  # as the outbox keeps it
    assert again == reply
    italian = render_reply(again, "it", "Europe/Rome").text
    english = render_reply(again, "en", "Europe/Rome").text
    assert "#1200" in italian and "inviati 1.200 di 10.000" in italian
    assert "#1200" in english and "1,200" in english and "10,000" in english
