"""The fake Twilio answers the real twilio client the way Twilio does."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pytest
from aiohttp import web
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from tests.fake_twilio import FakeTwilio

BOT_WA = "whatsapp:+14155238886"
MARIA = "+393331112222"
PUBLIC = "https://cisono.example.org/twilio/inbound"


class Receiver:
    """A bot-side endpoint that keeps every POST and checks its Twilio signature."""

    def __init__(self, token: str) -> None:
        self.validator = RequestValidator(token)
        self.posts: list[dict[str, Any]] = []
        self.public_url: str | None = None
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        form = dict(await request.post())
        signature = request.headers.get("X-Twilio-Signature", "")
        valid = self.validator.validate(self.public_url or str(request.url), form, signature)
        self.posts.append({"path": request.path, "form": form, "valid": valid})
        return web.Response(status=200 if valid else 403, text="ok" if valid else "forged")


@pytest.fixture
async def fake() -> AsyncIterator[FakeTwilio]:
    twilio = FakeTwilio()
    await twilio.start()
    yield twilio
    await twilio.stop()


@pytest.fixture
async def receiver(fake: FakeTwilio) -> AsyncIterator[Receiver]:
    endpoint = Receiver(fake.auth_token)
    await endpoint.start()
    yield endpoint
    await endpoint.stop()


def make_client(fake: FakeTwilio, token: str | None = None, account: str | None = None) -> Client:
    client = Client(
        fake.account_sid,
        token or fake.auth_token,
        account_sid=account,
        http_client=AsyncTwilioHttpClient(timeout=10),
    )
    client.api.base_url = fake.url
    return client


@pytest.fixture
async def client(fake: FakeTwilio) -> AsyncIterator[Client]:
    twilio = make_client(fake)
    yield twilio
    await twilio.http_client.close()


async def test_whatsapp_text_builds_a_message_instance(fake: FakeTwilio, client: Client) -> None:
    fake.open_window(MARIA)
    message = await client.messages.create_async(
        to=f"whatsapp:{MARIA}", from_=BOT_WA, body="ciao", status_callback="http://127.0.0.1:9/s"
    )
    assert re.fullmatch(r"SM[0-9a-f]{32}", message.sid or "")
    assert (message.status, message.direction, message.body) == ("queued", "outbound-api", "ciao")
    assert (message.to, message.from_, message.error_code) == (f"whatsapp:{MARIA}", BOT_WA, None)
    assert isinstance(message.date_created, datetime)
    assert fake.bodies_to(f"whatsapp:{MARIA}") == ["ciao"]
    assert fake.messages_to(MARIA) == []
    [record] = fake.messages
    assert record["status_callback"] == "http://127.0.0.1:9/s"
    fetched = await client.messages(message.sid or "").fetch_async()
    assert fetched.sid == message.sid


async def test_template_send_goes_through_a_closed_window(
    fake: FakeTwilio, client: Client, receiver: Receiver
) -> None:
    fake.callback_delay = 0
    callback = f"{receiver.url}/twilio/status"
    template = await client.messages.create_async(
        to=f"whatsapp:{MARIA}",
        from_=BOT_WA,
        content_sid="HX" + "a" * 32,
        content_variables=json.dumps({"1": "Maria"}),
        status_callback=callback,
    )
    free = await client.messages.create_async(
        to=f"whatsapp:{MARIA}", from_=BOT_WA, body="ciao", status_callback=callback
    )
    await fake.wait_for(lambda: len(receiver.posts) == 1)
    [post] = receiver.posts
    assert post["valid"]
    assert post["form"]["MessageSid"] == free.sid
    assert (post["form"]["MessageStatus"], post["form"]["ErrorCode"]) == ("failed", "63016")
    assert fake.messages[0]["content_variables"] == {"1": "Maria"}
    assert fake.messages[0]["sid"] == template.sid and fake.messages[0]["status"] == "queued"
    assert fake.bodies_to(f"whatsapp:{MARIA}") == ["", "ciao"]


async def test_opted_out_number_raises_21610(fake: FakeTwilio, client: Client) -> None:
    fake.opt_out(f"whatsapp:{MARIA}")
    for to, sender in ((MARIA, "+15005550006"), (f"whatsapp:{MARIA}", BOT_WA)):
        with pytest.raises(TwilioRestException) as caught:
            await client.messages.create_async(to=to, from_=sender, body="ciao")
        assert (caught.value.status, caught.value.code) == (400, 21610)
        assert "unsubscribed recipient" in caught.value.msg
    assert fake.messages == []
    assert [(r["To"], r["code"]) for r in fake.rejected] == [
        (MARIA, 21610),
        (f"whatsapp:{MARIA}", 21610),
    ]


async def test_429_then_success(fake: FakeTwilio, client: Client) -> None:
    fake.fail_next(429, retry_after=3)
    with pytest.raises(TwilioRestException) as caught:
        await client.messages.create_async(to=MARIA, from_="+15005550006", body="ciao")
    assert (caught.value.status, caught.value.code) == (429, 20429)
    # Retry-After is not on the exception; only the client's last raw response has it.
    last = client.http_client._test_only_last_response
    assert last.headers["Retry-After"] == "3"
    message = await client.messages.create_async(to=MARIA, from_="+15005550006", body="ciao")
    assert message.status == "queued"
    assert fake.bodies_to(MARIA) == ["ciao"]
    assert fake.count_to(MARIA) == 1  # what was accepted, not what was refused
    assert fake.rejected[0]["status"] == 429


async def test_refusals_carry_twilio_codes(fake: FakeTwilio, client: Client) -> None:
    fake.fail_next(500, times=2)
    for _ in range(2):
        with pytest.raises(TwilioRestException) as caught:
            await client.messages.create_async(to=MARIA, from_="+15005550006", body="x")
        assert caught.value.status == 500
    cases: list[tuple[dict[str, Any], int]] = [
        ({"to": MARIA, "from_": "+15005550006"}, 21602),
        ({"to": MARIA, "body": "x"}, 21603),
        ({"to": f"whatsapp:{MARIA}", "from_": "+15005550006", "body": "x"}, 21910),
        (
            {"to": MARIA, "from_": "+15005550006", "content_sid": "HX1", "content_variables": "{"},
            21656,
        ),
    ]
    for kwargs, code in cases:
        with pytest.raises(TwilioRestException) as caught:
            await client.messages.create_async(**kwargs)
        assert (caught.value.status, caught.value.code) == (400, code)
    assert fake.messages == []


async def test_wrong_credentials(fake: FakeTwilio) -> None:
    for token, account, status, code in (
        ("wrong-token", None, 401, 20003),
        (None, "AC" + "1" * 32, 404, 20404),
    ):
        client = make_client(fake, token, account)
        with pytest.raises(TwilioRestException) as caught:
            await client.messages.create_async(to=MARIA, from_="+15005550006", body="ciao")
        await client.http_client.close()
        assert (caught.value.status, caught.value.code) == (status, code)
    assert fake.messages == []


async def test_status_callbacks_are_signed(
    fake: FakeTwilio, client: Client, receiver: Receiver
) -> None:
    fake.open_window(MARIA)
    message = await client.messages.create_async(
        to=f"whatsapp:{MARIA}", from_=BOT_WA, body="ciao", status_callback=f"{receiver.url}/st"
    )
    assert await fake.report(message.sid or "", "sent", "delivered", "read") == [200, 200, 200]
    assert [p["form"]["MessageStatus"] for p in receiver.posts] == ["sent", "delivered", "read"]
    assert all(p["valid"] and p["path"] == "/st" for p in receiver.posts)
    form = receiver.posts[0]["form"]
    assert form["MessageSid"] == form["SmsSid"] == message.sid
    assert (form["To"], form["From"], form["AccountSid"]) == (
        f"whatsapp:{MARIA}",
        BOT_WA,
        fake.account_sid,
    )
    assert "ErrorCode" not in form
    assert fake.messages[0]["status"] == "read"
    assert await fake.report(message.sid or "", "undelivered", error_code=63024) == [200]
    assert receiver.posts[-1]["form"]["ErrorCode"] == "63024"


async def test_auto_report_and_open_window(
    fake: FakeTwilio, client: Client, receiver: Receiver
) -> None:
    fake.auto_report = True
    status, _ = await fake.send_inbound(f"{receiver.url}/in", f"whatsapp:{MARIA}", "ciao")
    assert status == 200
    sms = await client.messages.create_async(
        to="+393334445555", from_="+15005550006", body="sms", status_callback=f"{receiver.url}/st"
    )
    await client.messages.create_async(
        to=f"whatsapp:{MARIA}", from_=BOT_WA, body="ciao", status_callback=f"{receiver.url}/st"
    )
    await fake.wait_for(lambda: all(m["status"] == "delivered" for m in fake.messages))
    await fake.wait_for(lambda: len(receiver.posts) == 5)
    assert all(p["valid"] for p in receiver.posts)
    sms_statuses = [
        p["form"]["MessageStatus"] for p in receiver.posts if p["form"].get("MessageSid") == sms.sid
    ]
    assert sms_statuses == ["sent", "delivered"]
    assert [c["http_status"] for c in fake.callbacks] == [200] * 4


async def test_send_inbound_signed_and_forged(fake: FakeTwilio, receiver: Receiver) -> None:
    receiver.public_url = PUBLIC
    status, text = await fake.send_inbound(
        f"{receiver.url}/twilio/inbound",
        f"whatsapp:{MARIA}",
        "Sì",
        profile_name="Maria",
        button_payload="yes",
        button_text="Sì",
        signed_url=PUBLIC,
    )
    assert (status, text) == (200, "ok")
    form = receiver.posts[0]["form"]
    assert re.fullmatch(r"SM[0-9a-f]{32}", form["MessageSid"])
    assert (form["From"], form["To"], form["Body"], form["NumMedia"]) == (
        f"whatsapp:{MARIA}",
        BOT_WA,
        "Sì",
        "0",
    )
    assert (form["WaId"], form["ProfileName"], form["ButtonPayload"]) == (
        "393331112222",
        "Maria",
        "yes",
    )
    assert form["AccountSid"] == fake.account_sid

    status, _ = await fake.send_inbound(
        f"{receiver.url}/twilio/inbound",
        MARIA,
        "ciao",
        message_sid="SM" + "1" * 32,
        forged=True,
        signed_url=PUBLIC,
    )
    assert status == 403 and not receiver.posts[1]["valid"]
    assert receiver.posts[1]["form"]["To"] == "+15005550006"
    assert receiver.posts[1]["form"]["MessageSid"] == "SM" + "1" * 32
    assert "WaId" not in receiver.posts[1]["form"]


async def test_wait_for_explains_a_timeout(fake: FakeTwilio) -> None:
    with pytest.raises(AssertionError, match=r"not met within 0\.05s"):
        await fake.wait_for(lambda: False, timeout=0.05)
