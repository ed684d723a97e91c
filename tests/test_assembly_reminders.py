"""Members are reminded of the assembly: those coming and those who have not answered,
not those who said no; the silent ones are told the day before the answers close."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.app import App
from bot.whatsapp_window import Template, Templates
from flows.reminders import assembly_subject
from tests.fakes import FakeClock, RecordingChannel
from tests.test_assembly import convene, first_contact, import_registry, member
from tests.test_reminders import time_passes


async def until(app: App, clock: FakeClock, moment: datetime) -> None:
    await time_passes(app, clock, seconds=(moment - clock.now()).total_seconds())


async def test_reminders_before_the_assembly_and_its_deadline(
    app: App, clock: FakeClock, channel: RecordingChannel
):
    # weeks after their last message, WhatsApp takes only the cooperative's templates
    app.delivery.whatsapp.templates = Templates(
        {"default": {"it": Template("HX" + "1" * 32, {"1": "text"})}}
    )
    await import_registry(app)
    anna, bruno, carla = (
        member(app, channel, phone) for phone in ("+393331000001", "+393331000002", "+393331000003")
    )
    for person in (anna, bruno, carla):
        await first_contact(person)
    assembly = await convene(app)  # first call 15 December, 18:00; answers until the 13th
    for person in (anna, bruno, carla):
        person.unread()
    await anna.taps_payload(f"a:rsvp:{assembly.id}:present")
    await bruno.taps_payload(f"a:rsvp:{assembly.id}:absent")
    anna.unread(), bruno.unread()

    await until(app, clock, datetime(2026, 12, 8, 17, 0, tzinfo=UTC))  # a week before, 18:00
    (reminder,) = anna.unread()
    assert reminder.template_sid == "HX" + "1" * 32
    text = (reminder.template_variables or {})["1"]
    assert text.startswith("⏰ Promemoria: l'assemblea dei soci «Bilancio 2026»")
    assert "Prima convocazione: 15 dicembre 2026, 18:00" in text
    assert "1. Approvazione del bilancio" in text
    (nudge,) = carla.unread()
    text = (nudge.template_variables or {})["1"]
    assert "Non ci hai ancora detto se ci sarai: puoi rispondere fino al 13 dicembre" in text
    assert "1. Ci sarò" in text  # the answers, numbered
    assert bruno.unread() == []

    await until(app, clock, datetime(2026, 12, 12, 17, 0, tzinfo=UTC))  # the deadline's eve
    (last_call,) = carla.unread()
    assert (last_call.template_variables or {})["1"].startswith("Domani si chiudono le risposte")
    assert anna.unread() == [] and bruno.unread() == []
    reply = await carla.says("ci sarò")  # the words of the reminder's first answer
    assert "Ci sarò" in reply.text

    await until(app, clock, datetime(2026, 12, 14, 17, 0, tzinfo=UTC))  # the day before
    assert len(anna.unread()) == 1 and len(carla.unread()) == 1 and bruno.unread() == []
    await until(app, clock, datetime(2026, 12, 15, 15, 0, tzinfo=UTC))  # two hours before
    assert len(anna.unread()) == 1 and len(carla.unread()) == 1
    await until(app, clock, datetime(2026, 12, 16, 15, 0, tzinfo=UTC))
    assert anna.unread() == [] and carla.unread() == []

    async with app.database.unit_of_work() as uow:
        rows = await uow.reminders.about(assembly_subject(assembly.id))
    assert sorted((r.kind, r.label, r.status, r.recipients) for r in rows) == [
        ("assembly", "24h", "sent", 2),
        ("assembly", "2h", "sent", 2),
        ("assembly", "7d", "sent", 2),
        ("assembly_deadline", "1d", "sent", 1),
    ]
