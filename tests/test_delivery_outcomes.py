"""What the platforms answered is recorded for many chats in one transaction; one chat's
trouble in that record is not the other chats' problem."""

from __future__ import annotations

from sqlalchemy import event
from sqlmodel import select

from bot.delivery import Delivery
from bot.delivery_outcomes import Outcomes
from bot.rendering import Rendered
from bot.sending import SendError
from flows.messages import Reply
from storage.tables import OutboxMessage, Person
from storage.unit_of_work import Database, UnitOfWork
from tests.fakes import FakeClock

CHATS = 20


class PlatformChannel:
    """Sends to everyone but the chats it is told to refuse (permanently)."""

    def __init__(self, refuse: tuple[str, ...] = ()) -> None:
        self.refuse = refuse
        self.sent: list[str] = []

    async def send(self, address: str, message: Rendered) -> str | None:
        if address in self.refuse:
            raise SendError("Forbidden: bot was blocked by the user", permanent=True)
        self.sent.append(address)
        return f"id-{address}"


async def _queue(database: Database, *addresses: str) -> None:
    async with database.unit_of_work() as uow:
        for address in addresses:
            uow.outbox.add(
                OutboxMessage(
                    channel="telegram",
                    address=address,
                    locale="it",
                    timezone="Europe/Rome",
                    body=Reply("help.general").to_json(),
                    next_attempt_at=FakeClock().now(),
                )
            )


async def _statuses(database: Database) -> dict[str, tuple[str, str | None]]:
    async with database.unit_of_work() as uow:
        rows = await uow.session.exec(select(OutboxMessage))
        return {row.address: (row.status, row.provider_id) for row in rows}


async def test_twenty_chats_answered_are_recorded_in_a_few_transactions(database: Database):
    chats = [f"chat{n}" for n in range(CHATS)]
    await _queue(database, *chats)
    commits: list[int] = []
    event.listen(database.engine.sync_engine, "commit", lambda _c: commits.append(1))

    outcome = await Delivery(database, {"telegram": PlatformChannel()}, FakeClock()).drain()

    assert outcome.sent == CHATS
    statuses = await _statuses(database)
    assert statuses == {chat: ("sent", f"id-{chat}") for chat in chats}
    # one claim, then the chats' outcomes together (not one transaction per chat)
    assert len(commits) <= 4, commits


class OneChatBreaks(Outcomes):
    """A record that fails for one chat's refused message, as a bug would."""

    async def _record_refusal(self, uow: UnitOfWork, message_id: int, error: SendError) -> str:
        raise RuntimeError(f"cannot record message {message_id}")


async def test_a_chat_whose_record_breaks_leaves_the_others_recorded(database: Database):
    await _queue(database, "anna", "bruno", "carla")
    delivery = Delivery(database, {"telegram": PlatformChannel(refuse=("bruno",))}, FakeClock())
    delivery.outcomes = OneChatBreaks(database, delivery.clock, delivery.metrics)

    try:
        await delivery.drain()
    except RuntimeError as error:
        assert "cannot record" in str(error)
    else:
        raise AssertionError("the broken record went unnoticed")

    statuses = await _statuses(database)
    assert statuses["anna"] == ("sent", "id-anna")
    assert statuses["carla"] == ("sent", "id-carla")
    # Bruno's refusal is not recorded: his claim runs out and he is tried again later
    assert statuses["bruno"][0] == "sending"


async def test_a_person_erased_while_their_message_is_refused_is_no_error(database: Database):
    async with database.unit_of_work() as uow:
        person = await uow.people.add(Person(name="Dora"))
    assert person.id is not None

    class ErasingChannel(PlatformChannel):
        async def send(self, address: str, message: Rendered) -> str | None:
            async with database.unit_of_work() as uow:  # "cancella i miei dati" meanwhile
                dora = await uow.people.get(person.id or 0)
                assert dora is not None
                await uow.people.erase(dora)
            raise SendError("Bad Request: chat not found", permanent=True)

    async with database.unit_of_work() as uow:
        uow.outbox.add(
            OutboxMessage(
                person_id=person.id,
                channel="telegram",
                address="dora",
                locale="it",
                timezone="Europe/Rome",
                body=Reply("help.general").to_json(),
                next_attempt_at=FakeClock().now(),
            )
        )

    outcome = await Delivery(database, {"telegram": ErasingChannel()}, FakeClock()).drain()

    assert outcome.skipped == 1 and outcome.failed == 0
    assert await _statuses(database) == {}  # nothing of Dora's is left
