"""WhatsApp and SMS end to end: `cisono run` against a fake Twilio over real HTTP."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st
from multidict import MultiDict
from twilio.request_validator import RequestValidator

from bot.channels.twilio import form_body, parse_form, retry_after, signature_valid
from bot.runner import Runner
from bot.whatsapp_window import OUTSIDE_NO_TEMPLATE
from flows.messages import Reply
from storage.tables import OutboxMessage
from tests.fake_telegram import FakeTelegram
from tests.fake_twilio import FakeTwilio
from tests.platforms import account, outbox, people, running, settings_for, settled

MARIA = "+393331112222"
WA_MARIA = f"whatsapp:{MARIA}"


@pytest.fixture
def backend() -> str:
    return "sqlite"  # the engine is tried on every backend elsewhere


@pytest.fixture
async def bot(twilio: FakeTwilio, database_url: str) -> AsyncIterator[Runner]:
    async with running(settings_for(database_url, twilio=twilio)) as runner:
        yield runner


def inbound_url(runner: Runner) -> str:
    return f"http://127.0.0.1:{runner.port}/twilio/inbound"


async def says(twilio: FakeTwilio, runner: Runner, text: str, sender: str = WA_MARIA, **kw: str):
    """Maria writes; returns every body she has received so far, once the answer arrived."""
    before = len(twilio.bodies_to(sender))
    status, _ = await twilio.send_inbound(
        inbound_url(runner), sender, text, profile_name="Maria Rossi", **kw
    )
    assert status == 200
    await twilio.wait_for(lambda: len(twilio.bodies_to(sender)) > before)
    await settled(runner.app.database)
    return twilio.bodies_to(sender)


async def test_sign_up_on_whatsapp_typing_words(bot: Runner, twilio: FakeTwilio):
    bodies = await says(twilio, bot, "Buongiorno")
    assert "In che lingua preferisci" in bodies[-1]
    assert bodies[-1].endswith("1. Italiano\n2. English")

    await says(twilio, bot, "1")
    bodies = await says(twilio, bot, "sì")
    assert "Come ti chiami?" in bodies[-1]
    assert "1. Sì, sono Maria Rossi" in bodies[-1]  # from WhatsApp's ProfileName
    await says(twilio, bot, "sì")
    await twilio.wait_for(lambda: "Chi sei" in twilio.bodies_to(WA_MARIA)[-1])
    await says(twilio, bot, "famiglia")
    await twilio.wait_for(lambda: "Cosa vuoi fare?" in twilio.bodies_to(WA_MARIA)[-1])

    (person,) = await people(bot.app.database)
    assert (person.name, person.phone) == ("Maria Rossi", MARIA)
    assert all(m["from"] == "whatsapp:+14155238886" for m in twilio.messages)


async def test_a_quick_reply_button_is_a_choice(bot: Runner, twilio: FakeTwilio):
    await says(twilio, bot, "ciao")
    bodies = await says(twilio, bot, "English", button_payload="en", button_text="English")
    assert "Do you agree?" in bodies[-1]


async def test_sms_works_the_same_way(bot: Runner, twilio: FakeTwilio):
    bodies = await says(twilio, bot, "ciao", sender=MARIA)
    assert "In che lingua" in bodies[-1]
    assert twilio.messages_to(MARIA)[0]["from"] == "+15005550006"
    assert await account(bot.app.database, "sms", MARIA) is not None


async def test_a_forged_signature_is_refused_and_nothing_stored(bot: Runner, twilio: FakeTwilio):
    status, _ = await twilio.send_inbound(inbound_url(bot), WA_MARIA, "ciao", forged=True)
    assert status == 403
    status, _ = await twilio.send_inbound(
        inbound_url(bot), WA_MARIA, "ciao", signed_url="https://elsewhere.example/twilio/inbound"
    )
    assert status == 403
    assert await people(bot.app.database) == []
    assert twilio.messages == []


async def test_a_retried_webhook_is_handled_once(bot: Runner, twilio: FakeTwilio):
    url = inbound_url(bot)
    for _ in range(3):  # Twilio retries when it thinks we did not answer
        assert (await twilio.send_inbound(url, WA_MARIA, "ciao", message_sid="SM" + "1" * 32))[
            0
        ] == 200
    await twilio.wait_for(lambda: len(twilio.messages) >= 1)
    bodies = await says(twilio, bot, "1")
    assert len(bodies) == 2


async def test_delivery_reports_are_recorded(bot: Runner, twilio: FakeTwilio):
    await says(twilio, bot, "ciao")
    (sent,) = twilio.messages
    assert await twilio.report(sent["sid"], "sent", "delivered", "read") == [200, 200, 200]
    (row,) = await outbox(bot.app.database)
    assert (row.provider_id, row.provider_status, row.status) == (sent["sid"], "read", "read")


async def test_a_forged_delivery_report_is_refused(bot: Runner, twilio: FakeTwilio):
    import aiohttp

    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"http://127.0.0.1:{bot.port}/twilio/status",
            data={"MessageSid": "SM1", "MessageStatus": "failed"},
            headers={"X-Twilio-Signature": "bogus"},
        ) as response,
    ):
        assert response.status == 403


async def test_stop_opts_out_and_start_opts_back_in(bot: Runner, twilio: FakeTwilio):
    await says(twilio, bot, "ciao")
    bodies = await says(twilio, bot, "STOP")
    assert "non ti invierò più avvisi" in bodies[-1]
    wa = await account(bot.app.database, "whatsapp", MARIA)
    assert wa is not None and wa.opted_out_at is not None
    await says(twilio, bot, "START")
    wa = await account(bot.app.database, "whatsapp", MARIA)
    assert wa is not None and wa.opted_out_at is None


async def test_error_21610_marks_the_number_opted_out(bot: Runner, twilio: FakeTwilio):
    twilio.opt_out(MARIA)
    await twilio.send_inbound(inbound_url(bot), WA_MARIA, "ciao")
    database = bot.app.database
    await twilio.wait_for(lambda: len(twilio.rejected) == 1)
    (row,) = await settled(database)
    assert row.status == "failed" and row.failure_reason and "21610" in row.failure_reason
    wa = await account(database, "whatsapp", MARIA)
    assert wa is not None and wa.opted_out_at is not None


async def test_429_and_500_are_retried(bot: Runner, twilio: FakeTwilio):
    twilio.fail_next(500)
    await says(twilio, bot, "ciao")
    twilio.fail_next(429, retry_after=1)
    bodies = await says(twilio, bot, "1")
    assert "Sei d'accordo?" in bodies[-1]
    rows = await outbox(bot.app.database)
    assert [r.attempts for r in rows] == [2, 2]


async def test_twilio_s_retry_after_is_waited_out(bot: Runner, twilio: FakeTwilio):
    """Twilio asks for 2 s after a 429: the reply waits that long, not the 1 s backoff."""
    await says(twilio, bot, "ciao")
    twilio.fail_next(429, retry_after=2)
    started = time.monotonic()
    bodies = await says(twilio, bot, "1")
    assert time.monotonic() - started >= 2
    assert "Sei d'accordo?" in bodies[-1]
    assert [r.attempts for r in await outbox(bot.app.database)] == [1, 2]
    assert twilio.rejected[-1]["status"] == 429


async def test_a_429_holds_the_whole_sender_not_just_that_message(bot: Runner, twilio: FakeTwilio):
    """Twilio's 429 is the account's limit: the replies to others wait as well, rather
    than be refused one after the other."""
    twilio.fail_next(429, retry_after=1)
    senders = [f"whatsapp:+3933390000{n:02d}" for n in range(6)]
    for sender in senders:
        await twilio.send_inbound(inbound_url(bot), sender, "ciao")
    await twilio.wait_for(lambda: all(twilio.bodies_to(s) for s in senders))
    (refused,) = twilio.rejected  # one 429, not one per reply
    after = [m["at"] - refused["at"] for m in twilio.messages]
    assert len(after) == len(senders) and min(after) >= 0.9  # nothing went meanwhile


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("3", 3.0),
        ("0.5", 0.5),
        ("Tue, 01 Dec 2026 10:00:30 GMT", 30.0),
        ("Tue, 01 Dec 2026 09:59:00 GMT", None),  # already past
        ("0", None),
        ("-4", None),
        ("soon", None),
        ("nan", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_reads_seconds_and_dates(header: str | None, seconds: float | None):
    assert retry_after(header, now=datetime(2026, 12, 1, 10, 0, tzinfo=UTC)) == seconds


def test_a_signature_made_with_or_without_the_port_is_accepted():
    """Twilio signs the address as it was given, sometimes with the port added."""
    validator, form = RequestValidator("tok"), {"From": WA_MARIA, "Body": "ciao"}
    url = "https://bot.example.org/twilio/inbound"
    with_port = validator.compute_signature("https://bot.example.org:443/twilio/inbound", form)
    assert signature_valid("tok", url, form, validator.compute_signature(url, form))
    assert signature_valid("tok", url, form, with_port)
    for forged in ("forged", "è", "", validator.compute_signature(url, {**form, "Body": "x"})):
        assert not signature_valid("tok", url, form, forged)


# bits of urlencoded bodies: separators, escapes cut short or not UTF-8, raw bytes
FORM_PIECES = [*"ab=&%+;#? \x00é😊", "%2", "%C3", "%A8", "%FF", "%3D", "%26", "%2B", "%zz"]


def test_the_form_keeps_blanks_and_unicode():
    body = b"Body=caf%C3%A8+%E2%80%8F%F0%9F%91%8B&ProfileName=&From=whatsapp%3A%2B39"
    assert parse_form(body) == {"Body": "cafè \u200f👋", "ProfileName": "", "From": "whatsapp:+39"}
    assert parse_form(b"Body=%FF") == {"Body": "\ufffd"}  # not UTF-8: replaced, not refused


@given(st.one_of(st.binary(max_size=60), st.lists(st.sampled_from(FORM_PIECES)).map("".join)))
def test_any_body_reads_as_parse_qsl_reads_it(body: bytes | str):
    raw = body.encode() if isinstance(body, str) else body
    expected = parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True)
    assert list(parse_form(raw).items()) == expected


def test_a_repeated_field_is_signed_with_all_its_values():
    """As Twilio signs it: each value of the field, sorted."""
    validator, url = RequestValidator("tok"), "https://bot.example.org/twilio/inbound"
    body = b"MediaUrl0=b&Body=ciao&MediaUrl0=a"
    fields = MultiDict([("MediaUrl0", "b"), ("Body", "ciao"), ("MediaUrl0", "a")])
    assert signature_valid("tok", url, parse_form(body), validator.compute_signature(url, fields))
    only_the_last = validator.compute_signature(url, {"MediaUrl0": "a", "Body": "ciao"})
    assert not signature_valid("tok", url, parse_form(body), only_the_last)


# what Twilio's client puts in a message's form: texts (no lone surrogate: not UTF-8),
# numbers, lists of media addresses, and now and then a flag
form_values = st.one_of(
    st.text().filter(lambda t: not any("\ud800" <= c <= "\udfff" for c in t)),
    st.integers(),
    st.lists(st.sampled_from(["https://x.org/a b.jpg", "ç", "1&2=3"]), max_size=3),
    st.booleans(),
)


@given(st.dictionaries(st.sampled_from(["To", "From", "Body", "MediaUrl", "Å&="]), form_values))
def test_a_sent_form_reads_back_as_urlencode_s_would(data: dict[str, object]):
    expected = parse_qsl(urlencode(data, doseq=True), keep_blank_values=True)
    assert parse_qsl(form_body(data).decode(), keep_blank_values=True) == expected


async def outside_the_window(runner: Runner, twilio: FakeTwilio) -> None:
    """Maria wrote 25 hours ago; now the cooperative has something to tell her."""
    await says(twilio, runner, "ciao")
    twilio.close_window(MARIA)
    async with runner.app.database.unit_of_work() as uow:
        wa = await uow.people.account("whatsapp", MARIA)
        assert wa is not None and wa.last_inbound_at is not None
        wa.last_inbound_at -= timedelta(hours=25)
        uow.outbox.add(
            OutboxMessage(
                person_id=wa.person_id,
                account_id=wa.id,
                channel="whatsapp",
                address=MARIA,
                locale="it",
                timezone="Europe/Rome",
                body=Reply("roles.approved", {"role": "volontario"}).to_json(),
            )
        )
    runner.app.delivery.poke()


async def test_outside_the_window_a_template_is_used(
    twilio: FakeTwilio, database_url: str, tmp_path: Path
):
    templates = tmp_path / "templates.json"
    templates.write_text(
        json.dumps(
            {"default": {"it": {"content_sid": "HX" + "a" * 32, "variables": {"1": "text"}}}}
        )
    )
    settings = settings_for(database_url, twilio=twilio, TWILIO_TEMPLATES=str(templates))
    async with running(settings) as runner:
        await outside_the_window(runner, twilio)
        await twilio.wait_for(lambda: twilio.messages[-1]["content_sid"] is not None)
    template = twilio.messages[-1]
    assert template["content_sid"] == "HX" + "a" * 32
    assert "confermato il tuo ruolo di volontario" in template["content_variables"]["1"]
    assert not [c for c in twilio.callbacks if c.get("ErrorCode") == "63016"]


async def test_outside_the_window_without_template_telegram_is_used(
    twilio: FakeTwilio, telegram: FakeTelegram, database_url: str
):
    settings = settings_for(database_url, twilio=twilio, telegram=telegram)
    async with running(settings) as runner:
        await says(twilio, runner, "ciao")
        await telegram.user_sends_text(4242, "ciao")
        await telegram.wait_for_texts(4242, 1)
        async with runner.app.database.unit_of_work() as uow:
            # one person on both, as sharing her contact on Telegram would link them
            wa = await uow.people.account("whatsapp", MARIA)
            tg = await uow.people.account("telegram", "4242")
            assert wa is not None and tg is not None
            tg.person_id = wa.person_id
        await outside_the_window(runner, twilio)
        texts = await telegram.wait_for_texts(4242, 2)
    assert "confermato il tuo ruolo di volontario" in texts[-1]
    assert not [m for m in twilio.messages if "confermato" in (m["body"] or "")]


async def test_outside_the_window_with_no_way_the_failure_says_why(bot: Runner, twilio: FakeTwilio):
    await outside_the_window(bot, twilio)
    rows = await settled(bot.app.database)
    assert (rows[-1].status, rows[-1].failure_reason) == ("failed", OUTSIDE_NO_TEMPLATE)
    assert len(twilio.messages) == 1  # only the welcome, inside the window


async def test_short_choices_become_quick_reply_buttons_when_a_template_exists(
    twilio: FakeTwilio, database_url: str, tmp_path: Path
):
    templates = tmp_path / "templates.json"
    quick = {"it": {"content_sid": "HX" + "2" * 32}, "en": {"content_sid": "HX" + "e" * 32}}
    templates.write_text(json.dumps({"quick_reply_2": quick}))
    settings = settings_for(database_url, twilio=twilio, TWILIO_TEMPLATES=str(templates))
    async with running(settings) as runner:
        await says(twilio, runner, "ciao")
        welcome = twilio.messages[-1]
        assert welcome["content_sid"] == "HX" + "2" * 32
        assert welcome["content_variables"] == {
            "1": welcome["content_variables"]["1"],
            "2": "Italiano",
            "3": "it",
            "4": "English",
            "5": "en",
        }
        assert "In che lingua" in welcome["content_variables"]["1"]
        # the person taps "English": WhatsApp sends the button's id as ButtonPayload
        await says(twilio, runner, "English", button_payload="en", button_text="English")
        consent = twilio.messages[-1]
        assert consent["content_sid"] is None  # three choices, one too long for a button
        assert "Do you agree?" in consent["body"]
