"""Telegram end to end: `cisono run` against a fake Bot API over real HTTP, both drivers."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from bot.runner import Runner
from flows.incoming import Incoming
from tests.fake_telegram import FakeTelegram
from tests.platforms import (
    WEBHOOK_SECRET,
    account,
    people,
    running,
    settings_for,
    settled,
)

pytestmark = pytest.mark.parametrize("backend", ["sqlite"])  # the engine is tested elsewhere
MARIA = 4242


@pytest.fixture(params=["aiogram-polling", "aiogram-webhook", "ptb-polling", "ptb-webhook"])
async def bot(
    request: pytest.FixtureRequest, telegram: FakeTelegram, database_url: str
) -> AsyncIterator[Runner]:
    driver, mode = str(request.param).split("-")
    settings = settings_for(
        database_url, telegram=telegram, driver=driver, webhook=mode == "webhook"
    )
    async with running(settings) as runner:
        yield runner


async def test_sign_up_by_tapping_buttons(bot: Runner, telegram: FakeTelegram):
    await telegram.user_sends_text(MARIA, "/start", first_name="Maria", last_name="Rossi")
    (welcome,) = await telegram.wait_for_texts(MARIA, 1)
    assert "In che lingua preferisci" in welcome
    keyboard = telegram.last_message_to(MARIA)["reply_markup"]["inline_keyboard"]
    assert [[b["text"] for b in row] for row in keyboard] == [["Italiano"], ["English"]]

    await telegram.user_taps(MARIA, "it")
    texts = await telegram.wait_for_texts(MARIA, 2)  # one message for each turn
    assert "Sei d'accordo?" in texts[-1]

    await telegram.user_taps(MARIA, "yes")
    texts = await telegram.wait_for_texts(MARIA, 3)
    assert "Vuoi condividere il tuo numero" in texts[-1]
    markup = telegram.last_message_to(MARIA)["reply_markup"]
    assert markup["keyboard"][0][0] == {
        "text": "📱 Condividi il mio numero",
        "request_contact": True,
    }

    await telegram.user_shares_contact(MARIA, "393331112222")  # without "+", as Telegram does
    texts = await telegram.wait_for_texts(MARIA, 4)
    assert texts[-1].startswith("Ho salvato il tuo numero +393331112222.")
    assert "Come ti chiami?" in texts[-1]

    await telegram.user_taps(MARIA, "suggested")  # "Sì, sono Maria Rossi"
    texts = await telegram.wait_for_texts(MARIA, 5)
    assert "Chi sei per la cooperativa?" in texts[-1]
    await telegram.user_taps(MARIA, "family")
    texts = await telegram.wait_for_texts(MARIA, 6)
    assert "Benvenuto, Maria Rossi!" in texts[-1]

    # every tap is answered, or the user's client shows a spinner
    await telegram.wait_for(lambda: len(telegram.calls_to("answerCallbackQuery")) == 4)
    (person,) = await people(bot.app.database)
    assert (person.name, person.phone) == ("Maria Rossi", "+393331112222")


async def test_a_duplicate_update_is_handled_once(bot: Runner, telegram: FakeTelegram):
    update = await telegram.user_sends_text(MARIA, "ciao")
    await telegram.wait_for_texts(MARIA, 1)
    await telegram.deliver_again(update)
    await telegram.user_sends_text(MARIA, "italiano")
    texts = await telegram.wait_for_texts(MARIA, 2)
    assert "Sei d'accordo?" in texts[1]
    assert len(telegram.texts_to(MARIA)) == 2


async def test_the_export_arrives_as_a_file(bot: Runner, telegram: FakeTelegram):
    for step in ("ciao", "italiano", "sì", "salta", "Maria Rossi", "famiglia"):
        count = len(telegram.texts_to(MARIA))
        await telegram.user_sends_text(MARIA, step)
        await telegram.wait_for_texts(MARIA, count + 1)
    await telegram.user_sends_text(MARIA, "privacy")
    await telegram.wait_for(lambda: "Privacy: cosa" in telegram.texts_to(MARIA)[-1])
    await telegram.user_sends_text(MARIA, "scarica i miei dati")
    await telegram.wait_for(lambda: bool(telegram.calls_to("sendDocument")))
    (document,) = telegram.calls_to("sendDocument")
    assert document["document"]["filename"] == "cisono-my-data.json"
    assert b'"name": "Maria Rossi"' in document["document"]["content"]


@pytest.fixture(params=["aiogram", "ptb"])
async def polling_bot(
    request: pytest.FixtureRequest, telegram: FakeTelegram, database_url: str
) -> AsyncIterator[Runner]:
    settings = settings_for(database_url, telegram=telegram, driver=str(request.param))
    async with running(settings) as runner:
        yield runner


async def test_a_forged_webhook_secret_is_refused_and_nothing_stored(
    telegram: FakeTelegram, database_url: str
):
    settings = settings_for(database_url, telegram=telegram, webhook=True)
    async with running(settings) as runner:
        url = f"http://127.0.0.1:{runner.port}/telegram/webhook"
        update = {
            "update_id": 1,
            "message": {
                "message_id": 1,
                "date": 0,
                "text": "ciao",
                "chat": {"id": MARIA, "type": "private", "first_name": "Maria"},
                "from": {"id": MARIA, "is_bot": False, "first_name": "Maria"},
            },
        }
        async with aiohttp.ClientSession() as http:
            for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "guess"}):
                async with http.post(url, json=update, headers=headers) as response:
                    assert response.status == 403
            headers = {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}
            async with http.post(url, data=b"{not json", headers=headers) as response:
                assert response.status == 400
        assert await people(runner.app.database) == []
        assert telegram.webhook_secret == WEBHOOK_SECRET  # registered with setWebhook on start


async def test_flood_control_is_waited_out(polling_bot: Runner, telegram: FakeTelegram):
    telegram.fail_next("sendMessage", 429, retry_after=1)
    await telegram.user_sends_text(MARIA, "ciao")
    (welcome,) = await telegram.wait_for_texts(MARIA, 1, timeout=15)
    assert "In che lingua" in welcome
    (row,) = await settled(polling_bot.app.database)
    assert (row.status, row.attempts) == ("sent", 2)
    assert (row.sent_at - row.created_at).total_seconds() >= 1  # type: ignore[operator]


async def test_a_server_error_is_retried(polling_bot: Runner, telegram: FakeTelegram):
    telegram.fail_next("sendMessage", 500, description="Internal Server Error")
    await telegram.user_sends_text(MARIA, "ciao")
    await telegram.wait_for_texts(MARIA, 1, timeout=15)
    (row,) = await settled(polling_bot.app.database)
    assert (row.status, row.attempts) == ("sent", 2)


async def test_a_user_who_blocked_the_bot_is_not_retried(
    polling_bot: Runner, telegram: FakeTelegram
):
    telegram.block(MARIA)
    await telegram.user_sends_text(MARIA, "ciao")
    database = polling_bot.app.database
    await telegram.wait_for(lambda: bool(telegram.calls_to("sendMessage")))
    (row,) = await settled(database)
    assert row.status == "failed" and row.attempts == 1
    assert row.failure_reason is not None and "blocked" in row.failure_reason
    tg_account = await account(database, "telegram", str(MARIA))
    assert tg_account is not None and tg_account.unreachable_at is not None

    telegram.unblock(MARIA)  # they changed their mind and write again
    await telegram.user_sends_text(MARIA, "ciao")
    await telegram.wait_for_texts(MARIA, 1)
    tg_account = await account(database, "telegram", str(MARIA))
    assert tg_account is not None and tg_account.unreachable_at is None


async def test_messages_left_in_the_outbox_go_out_after_a_restart(
    telegram: FakeTelegram, database_url: str
):
    settings = settings_for(database_url, telegram=telegram)
    runner = Runner(settings)
    # the bot handled the message, then stopped before delivering the replies
    await runner.app.engine.handle(Incoming("telegram", str(MARIA), text="ciao"))
    await runner.app.close()
    assert telegram.texts_to(MARIA) == []

    async with running(settings):
        (welcome,) = await telegram.wait_for_texts(MARIA, 1)
    assert "In che lingua" in welcome
