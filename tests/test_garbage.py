"""Whatever a person sends, at whatever step, gets a clear answer and breaks nothing."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.app import App
from bot.ratelimit import RateLimits
from bot.settings import Settings
from flows.incoming import Incoming
from storage.migrate import upgrade
from storage.unit_of_work import Database
from tests.fakes import FakeClock, RecordingChannel
from tests.transcript import Person, sign_up

RAW_KEY = re.compile(r"^[a-z_]+(\.[a-z_]+)+$")
PLACEHOLDER = re.compile(r"\{[a-z_]+\}")

SIGNED_UP = ["ciao", "1", "sì", "Maria Rossi", "famiglia"]
REQUEST = [
    "trasporto",
    "per me",
    "65-79",
    "Bologna",
    "qualsiasi giorno",
    "mattina",
    "urgente",
    "no",
]
# Paths to every step; each ends on the question that the garbage will answer.
PATHS = {
    "onboarding.language": ["ciao"],
    "onboarding.consent": ["ciao", "1"],
    "onboarding.role": ["ciao", "1", "sì", "Maria Rossi"],
    "menu.main": ["ciao", "1", "sì", "Maria Rossi", "famiglia"],
    "profile.show": ["ciao", "1", "sì", "Maria Rossi", "famiglia", "profilo"],
    "profile.add_role": ["ciao", "1", "sì", "Maria Rossi", "famiglia", "profilo", "aggiungi"],
    "language.choose": ["ciao", "1", "sì", "Maria Rossi", "famiglia", "lingua"],
    "privacy.menu": ["ciao", "1", "sì", "Maria Rossi", "famiglia", "privacy"],
    "privacy.erase": ["ciao", "1", "sì", "Maria Rossi", "famiglia", "privacy", "cancella"],
    "request.category": [*SIGNED_UP, "chiedi supporto"],
    "request.for_whom": [*SIGNED_UP, "chiedi supporto", "trasporto"],
    "request.age": [*SIGNED_UP, "chiedi supporto", "trasporto", "per me"],
    "request.urgency": [*SIGNED_UP, "chiedi supporto", *REQUEST[:6]],
    "request.summary": [*SIGNED_UP, "chiedi supporto", *REQUEST],
    "request.correct": [*SIGNED_UP, "chiedi supporto", *REQUEST, "correggi"],
    "requests.mine": [*SIGNED_UP, "le mie richieste"],
    "requests.detail": [*SIGNED_UP, "chiedi supporto", *REQUEST, "sì", "le mie richieste", "1"],
}


MEMORY_ONLY = pytest.mark.parametrize("backend", ["memory"])  # same engine everywhere: be fast


@MEMORY_ONLY
@pytest.mark.parametrize("step", PATHS)
@pytest.mark.parametrize("garbage", ["xyzzy qwerty", "🤷", "0", "42", "-1", "sì no"])
async def test_garbage_at_a_choice_gets_the_question_again(
    app: App, channel: RecordingChannel, step: str, garbage: str
):
    person = Person(app, channel)
    for line in PATHS[step]:
        question = await person.says(line)
    reply = await person.says(garbage)
    (again,) = reply.messages  # the apology and the question, in one message
    apology, _, asked = again.text.partition("\n\n")
    assert apology.startswith("Scusa, non ho capito")
    assert question.last.text.endswith(asked)  # the question may have come after other words
    assert again.choices == question.last.choices


@pytest.fixture(scope="module")
def runner() -> Iterator[asyncio.Runner]:
    with asyncio.Runner() as runner:
        yield runner


@pytest.fixture(scope="module")
def fuzz_app(runner: asyncio.Runner) -> Iterator[tuple[App, RecordingChannel]]:
    channel = RecordingChannel()
    database = Database("sqlite:///:memory:")
    runner.run(upgrade(database.engine))
    channels = {"terminal": channel, "telegram": channel}
    settings = Settings(database_url=database.url)
    app = App.build(settings, channels, FakeClock(), database, limits=RateLimits({}))
    yield app, channel
    runner.run(database.dispose())


WORDS = [
    "1",
    "2",
    "3",
    "4",
    "5",
    "0",
    "99",
    "sì",
    "no",
    "ok",
    "menu",
    "indietro",
    "annulla",
    "aiuto",
    "lingua",
    "privacy",
    "stop",
    "start",
    "Maria Rossi",
    "famiglia",
    "volontario",
    "socio",
    "english",
    "italiano",
    "cancella",
    "scarica",
    "vedi",
    "profilo",
    "cambia nome",
    "aggiungi",
    "salta",
    "/start",
    "chiedi supporto",
    "trasporto",
    "per me",
    "65-79",
    "qualsiasi giorno",
    "urgente",
    "conferma",
    "correggi",
    "la zona",
    "le mie richieste",
    "annulla questa richiesta",
    "",
]
PAYLOADS = [
    "a:take:1",
    "a:nope",
    "g:menu",
    "g:back",
    "g:nope",
    "yes",
    "no",
    "it",
    "en",
    "skip",
    "back",
    "export",
]
messages = st.one_of(
    st.sampled_from(WORDS).map(lambda w: ("text", w)),
    st.text(max_size=60).map(lambda t: ("text", t)),
    st.sampled_from(PAYLOADS).map(lambda p: ("tap", p)),
    st.text(max_size=70).map(lambda p: ("tap", p)),
    st.text(alphabet="+0123456789 ", max_size=16).map(lambda p: ("contact", p)),
)


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(conversation=st.lists(messages, min_size=1, max_size=14))
def test_any_conversation_gets_answers_and_keeps_a_valid_state(
    runner: asyncio.Runner,
    fuzz_app: tuple[App, RecordingChannel],
    conversation: list[tuple[str, str]],
):
    app, channel = fuzz_app
    person = Person(app, channel, on="telegram", can_share_contact=True)

    async def play() -> None:
        for kind, value in conversation:
            fields = {"text": value} if kind == "text" else {}
            fields |= {"choice": value} if kind == "tap" else {}
            fields |= {"contact_phone": value} if kind == "contact" else {}
            replies = await person.send(Incoming("telegram", person.address, **fields))
            assert replies, f"silence after {kind} {value!r}"
            for reply in replies:
                assert reply.text.strip(), "an empty message"
                assert not RAW_KEY.match(reply.text), f"an untranslated key: {reply.text}"
                assert not PLACEHOLDER.search(reply.text), f"a placeholder left: {reply.text}"
                assert all(c.label.strip() for c in reply.choices)
            async with app.database.unit_of_work() as uow:
                account = await uow.people.account("telegram", person.address)
                if account is not None:
                    state = await uow.conversations.load(account.person_id)
                    assert state.step is None or state.step in app.engine.steps

    runner.run(play())


@MEMORY_ONLY
async def test_a_long_message_is_not_a_name(app: App, channel: RecordingChannel):
    person = Person(app, channel)
    await person.says("ciao")
    await person.says("1")
    await person.says("sì")
    reply = await person.says("x" * 5000)
    assert "Non mi sembra un nome" in reply
    reply = await sign_up(Person(app, channel))
    assert "Benvenuto" in reply
