"""One answer, one message: what a turn says before its question goes in the same message
(one notification, one send, one Twilio fee), unless a file or a live message needs one
of its own."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from bot.app import App
from bot.rendering import render_reply
from flows.messages import Attachment, Choice, Reply, joined
from tests.fakes import RecordingChannel
from tests.transcript import Person

QUESTION = Reply("onboarding.welcome", choices=(Choice("it", "language.it"),))
THANKS = Reply("common.cancelled")
SORRY = Reply("common.not_understood")
FILE = Reply("privacy.export_ready", attachment=Attachment("dati.json", "application/json", "{}"))
LIVE = Reply("broadcast.progress", replaces="broadcast:1")


async def test_help_and_the_question_again_arrive_as_one_message(
    app: App, channel: RecordingChannel
):
    person = Person(app, channel)
    question = (await person.says("ciao")).last
    reply = await person.says("aiuto")
    (message,) = reply.messages
    help_text, _, asked = message.text.partition("\n\n")
    assert help_text and help_text not in question.text
    assert asked == question.text
    assert message.choices == question.choices  # the buttons stay under the question


async def test_a_whole_sign_up_answers_each_turn_with_one_message(
    app: App, channel: RecordingChannel
):
    person = Person(app, channel)
    for text in ("ciao", "1", "sì", "Maria Rossi", "famiglia"):
        reply = await person.says(text)
        assert len(reply.messages) == 1, (text, reply)
    assert "Benvenuto, Maria Rossi!" in reply.last.text
    assert "Cosa vuoi fare?" in reply.last.text and reply.buttons


def test_words_go_in_front_of_the_question_that_follows_them():
    (message,) = joined([THANKS, SORRY, QUESTION])
    assert message.lead == (THANKS, SORRY)
    assert message.choices == QUESTION.choices
    text = render_reply(message, "it", "Europe/Rome").text
    assert text.split("\n\n") == [
        render_reply(r, "it", "Europe/Rome").text for r in (THANKS, SORRY, QUESTION)
    ]


def test_a_file_and_a_live_message_keep_a_message_of_their_own():
    messages = joined([THANKS, FILE, SORRY, LIVE, QUESTION])
    assert messages == [THANKS, FILE, SORRY, LIVE, QUESTION]


def test_words_after_a_question_are_a_message_after_it():
    messages = joined([QUESTION, THANKS, SORRY])
    assert messages == [QUESTION, Reply(SORRY.key, lead=(THANKS,))]
    assert joined([]) == []


def test_what_was_said_in_front_survives_the_outbox():
    (message,) = joined([THANKS, QUESTION])
    assert Reply.from_json(message.to_json()) == message


def said(messages: list[Reply]) -> list[Reply]:
    """What the messages say, in the order a reader reads it."""
    return [r for m in messages for r in (*m.lead, replace(m, lead=()))]


@given(st.lists(st.sampled_from([THANKS, SORRY, QUESTION, FILE, LIVE]), max_size=8))
def test_nothing_said_is_lost_or_moved_and_only_words_are_joined(replies: list[Reply]):
    messages = joined(replies)
    assert said(messages) == replies
    for message in messages:
        assert all(r.plain for r in message.lead)  # buttons, files, live tags end a message
        assert not message.lead or (message.attachment is None and message.replaces is None)
    assert len(messages) == len(joined(messages))  # joining again changes nothing
