"""Nobody gets past what their roles allow: every coordinator-only step and every action
button, tried by a family, a volunteer and a member, typed, tapped and forged, on two
channels. Each refusal is said in the person's language, changes nothing, and the forged
ones are audited (who, which action or step, which target)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import SQLModel, select

from bot.app import App
from flows import access
from flows.catalogue import all_steps
from flows.config import PRIVACY_NOTICE_VERSION
from flows.i18n import render, words
from flows.incoming import Incoming
from flows.menu import MENU
from storage.tables import Assembly, AuditEntry, Shift, SupportRequest
from storage.tables import Person as PersonRow
from tests.fakes import RecordingChannel
from tests.transcript import Person

CHANNELS = ("telegram", "whatsapp")
INTRUDERS = ("family", "volunteer", "member")
MEMORY_ONLY = pytest.mark.parametrize("backend", ["memory"])
NOTE = "chiavi sotto lo zerbino, citofono 3B"  # a family's note: for coordinators only
FAMILY_PHONE = "+393331110001"
NOT_ALLOWED = {
    "it": "Questa azione è riservata ai coordinatori.",
    "en": "This action is for coordinators only.",
}
# what may change when a refused message is handled: the conversation, the outbox (the
# refusal itself), the inbound ids, the account's last contact, and the audit (checked)
BOOKKEEPING = {"conversation_state", "outbox", "processed_inbound", "channel_account", "audit_log"}
# steps everyone signed up may reach (their own data); every other step must be closed
OPEN_STEPS = (
    "onboarding.",
    "menu.main",
    "profile.",
    "language.choose",
    "privacy.",
    "request.",
    "requests.",
    "shifts.",
    "volunteer.",
    "assembly.mine",
    "assembly.checkin",
    "assembly.proxy",
)
COORDINATOR_STEPS = [n for n in all_steps().names if access.coordinator_only(n)]
# answers a coordinator gives at those steps: buttons, words, and actions on top
TAPS = ("1", "yes", "approve", "refuse", "send", "cancel", "nudge", "take", "status", "new", "p3")
TYPED = ("sì", "approva", "conferma", "Anna Bianchi", "chiuso", "Bilancio 2027", "2")


@dataclass
class World:
    """A cooperative with one of everything, created as the CLI would."""

    app: App
    channel: RecordingChannel
    people: dict[str, Person]
    ids: dict[str, int]


async def add_person(
    app: App,
    channel: RecordingChannel,
    on: str,
    name: str,
    roles: tuple[str, ...],
    phone: str | None = None,
    locale: str = "it",
) -> tuple[Person, int]:
    """Someone signed up (consent, name, roles) with an account on `on`."""
    address = phone if on == "whatsapp" and phone else f"{on}-{name.split()[0].lower()}"
    async with app.database.unit_of_work() as uow:
        row = await uow.people.add(
            PersonRow(
                name=name,
                phone=phone,
                locale=locale,
                consent_at=app.engine.clock.now(),
                consent_version=PRIVACY_NOTICE_VERSION,
            )
        )
        assert row.id is not None
        for role in roles:
            await uow.people.grant(row.id, role, by="cli")
        await uow.people.add_account(row.id, on, address)
    return Person(app, channel, on=on, address=address, phone=phone), row.id


async def a_world(app: App, channel: RecordingChannel, on: str) -> World:
    now = app.engine.clock.now()
    people: dict[str, Person] = {}
    ids: dict[str, int] = {}
    cast = {
        "family": ("Maria Rossi", ("family",), FAMILY_PHONE, "it"),
        "volunteer": ("Vera Blu", ("volunteer",), "+393331110002", "en"),
        "member": ("Mario Neri", ("member",), "+393331110003", "it"),
        "anna": ("Anna Bianchi", ("member",), "+393331110004", "it"),
        "bruno": ("Bruno Gialli", ("member",), "+393331110005", "it"),
        "coordinator": ("Giulia Verdi", ("coordinator",), "+393337770000", "it"),
    }
    for key, (name, roles, phone, locale) in cast.items():
        people[key], ids[key] = await add_person(app, channel, on, name, roles, phone, locale)
    async with app.database.unit_of_work() as uow:
        request = await uow.requests.add(
            SupportRequest(
                reference="R-2026-0001",
                family_person_id=ids["family"],
                category="elderly_care",
                beneficiary="parent",
                age_band="80+",
                zone="Bologna",
                days="any_day",
                times="morning",
                urgency="urgent",
                notes=NOTE,
            ),
            "person:1",
        )

        def shift(title: str, skills: list[str]) -> Shift:
            starts = now + timedelta(days=3)
            return Shift(
                title=title,
                zone="Bologna",
                starts_at=starts,
                ends_at=starts + timedelta(hours=2),
                needed=2,
                skills=skills,
            )

        unfit = await uow.shifts.add(shift("Guida del pulmino", ["Patente di guida"]))
        fit = await uow.shifts.add(shift("Spesa", []))

        def assembly(title: str) -> Assembly:
            first = now + timedelta(days=30)
            return Assembly(
                title=title,
                first_call_at=first,
                second_call_at=first + timedelta(days=1),
                place="Sala civica",
                agenda=["Bilancio"],
                answer_deadline=first - timedelta(days=2),
                checkin_code="1234",
                created_by="cli",
            )

        invited = await uow.assemblies.add(assembly("Bilancio 2026"))
        elsewhere = await uow.assemblies.add(assembly("Assemblea di un'altra sezione"))
        assert invited.id is not None and elsewhere.id is not None
        for key in ("member", "anna", "bruno"):
            await uow.assemblies.invite(invited.id, ids[key], True)
        await uow.assemblies.invite(elsewhere.id, ids["anna"], True)
        anna = await uow.assemblies.invitation(invited.id, ids["anna"])
        assert anna is not None and anna.id is not None
        anna.answer, anna.delegate_id, anna.proxy_status = "proxy", ids["bruno"], "pending"
        applicant = await uow.people.add(PersonRow(name="Piero Viola", locale="it"))
        assert applicant.id is not None
        pending = await uow.people.grant(applicant.id, "volunteer", status="pending")
        for key, row in (
            ("request", request),
            ("unfit_shift", unfit),
            ("fit_shift", fit),
            ("assembly", invited),
            ("other_assembly", elsewhere),
            ("anna_invite", anna),
            ("pending_role", pending),
        ):
            assert row.id is not None
            ids[key] = row.id
    return World(app, channel, people, ids)


async def snapshot(app: App) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table that matters (all but the bookkeeping)."""
    rows = {}
    async with app.database.unit_of_work() as uow:
        for table in SQLModel.metadata.sorted_tables:
            if table.name not in BOOKKEEPING:
                connection = await uow.session.connection()
                result = await connection.execute(select(table))
                rows[table.name] = sorted((tuple(r) for r in result.all()), key=repr)
    return rows


async def refusals(app: App) -> list[AuditEntry]:
    async with app.database.unit_of_work() as uow:
        return list(await uow.audit.entries("access.refused"))


async def put_at(app: App, person_id: int, step: str, data: dict[str, object]) -> None:
    """The conversation state of someone who is not a coordinator (or no longer is) at a
    coordinator's step: as if their role had just been revoked, or the state forged."""
    async with app.database.unit_of_work() as uow:
        conversation = await uow.conversations.load(person_id)
        conversation.step, conversation.data = step, dict(data)
        conversation.history = ["menu.main"]
        await uow.conversations.save(conversation)


async def step_of(app: App, person_id: int) -> str | None:
    async with app.database.unit_of_work() as uow:
        return (await uow.conversations.load(person_id)).step


def coordinator_state(world: World) -> dict[str, object]:
    """What a coordinator's conversation holds on the way through those steps."""
    ids = world.ids
    starts = world.app.engine.clock.now() + timedelta(days=5)
    return {
        "request_id": ids["request"],
        "shift_id": ids["fit_shift"],
        "assembly_id": ids["assembly"],
        "role_id": ids["pending_role"],
        "broadcast_id": 1,
        "marking": ids["volunteer"],
        "new_status": "closed",
        "filter_by": "status",
        "shift": {
            "title": "Trasporto",
            "skills": [],
            "starts": starts.isoformat(),
            "ends": (starts + timedelta(hours=1)).isoformat(),
            "zone": "Bologna",
            "place": "",
            "needed": 1,
            "notes": "",
            "request_id": ids["request"],
        },
        "editing": False,
        "form_from": "coverage.list",
    }


def test_every_step_is_either_open_or_for_coordinators_only():
    """A new step is closed unless it is listed here as open: nothing slips through."""
    steps = all_steps()
    for name in steps.names:
        assert access.coordinator_only(name) != name.startswith(OPEN_STEPS), name
    expected = {"triage.detail", "triage.status", "roles.decide", "coverage.detail"}
    expected |= {"assembly.new", "assembly.mark", "broadcast.preview", "shiftform.summary"}
    assert expected <= set(COORDINATOR_STEPS)
    assert set(steps.action_names) <= set(access.ACTION_RULES), "an action without a rule"


def attempts_at(index: int, world: World) -> list[dict[str, str]]:
    """A coordinator's button, a coordinator's word, and a forged "take charge": the
    buttons and words change from step to step, so that together they try them all."""
    return [
        {"choice": TAPS[index % len(TAPS)]},
        {"text": TYPED[index % len(TYPED)]},
        {"choice": f"a:take:{world.ids['request']}"},
    ]


@MEMORY_ONLY
@pytest.mark.parametrize("on", CHANNELS)
@pytest.mark.parametrize("who", INTRUDERS)
async def test_coordinator_steps_refuse_everyone_else(
    app: App, channel: RecordingChannel, on: str, who: str
):
    world = await a_world(app, channel, on)
    person, person_id = world.people[who], world.ids[who]
    locale = "en" if who == "volunteer" else "it"
    state = coordinator_state(world)
    before, tried = await snapshot(app), 0
    for index, step in enumerate(COORDINATOR_STEPS):
        for fields in attempts_at(index, world):
            await put_at(app, person_id, step, state)
            handled = await app.engine.handle(Incoming(on, person.address, **fields))
            said = [render(locale, r.key, r.params) for r in handled.replies]
            assert NOT_ALLOWED[locale] in said, (step, fields, said)
            assert not [line for line in said if NOTE in line or FAMILY_PHONE in line]
            assert await step_of(app, person_id) == "menu.main", (step, fields)
            tried += 1
    assert await snapshot(app) == before, "a refused message changed something"
    audited = await refusals(app)
    assert {a.actor for a in audited} == {f"person:{person_id}"}
    at_steps = [a.subject for a in audited if a.subject and a.subject.startswith("step:")]
    assert len(at_steps) == tried  # each attempt once, by the step it was made at
    assert set(at_steps) == {f"step:{s}" for s in COORDINATOR_STEPS}
    takes = [a for a in audited if a.subject == f"request:{world.ids['request']}"]
    assert len(takes) == len(COORDINATOR_STEPS)  # the forged "take charge" on top
    assert {a.details["channel"] for a in audited} == {on}


@MEMORY_ONLY
@pytest.mark.parametrize("on", CHANNELS)
@pytest.mark.parametrize("who", INTRUDERS)
async def test_the_coordinators_menu_entries_are_not_there_for_others(
    app: App, channel: RecordingChannel, on: str, who: str
):
    world = await a_world(app, channel, on)
    person = world.people[who]
    locale = "en" if who == "volunteer" else "it"
    await person.says("menu")
    before = await snapshot(app)
    entries = [e for e in MENU if e.roles == ("coordinator",)]
    assert {e.step for e in entries} <= set(COORDINATOR_STEPS)
    for entry in entries:
        typed = [render(locale, entry.label, {})]
        typed += sorted(words(entry.words))[:2] if entry.words else []
        for text in typed:  # not understood, or close to one of their own entries
            await person.says(text)
            step = await step_of(app, world.ids[who])
            assert step is not None and not access.coordinator_only(step), (text, step)
            await person.says("menu")
        reply = await person.taps_payload(entry.id)
        stale = render(locale, "common.stale_choice", {})
        assert reply.messages[0].text.startswith(f"{stale}\n\n"), entry.id  # then the menu
        assert await step_of(app, world.ids[who]) == "menu.main"
    assert await snapshot(app) == before


@dataclass(frozen=True)
class Forgery:
    who: str
    payload: str  # {request}, {unfit_shift}... are the world's ids
    says: dict[str, str]  # a fragment of the refusal, per language
    target: str


FORGERIES = [
    *(
        Forgery(who, "a:take:{request}", NOT_ALLOWED, "request:{request}")
        for who in ("family", "volunteer", "member")
    ),
    Forgery(
        "volunteer",
        "a:accept:{unfit_shift}",
        {"en": "This shift was not offered to you"},
        "shift:{unfit_shift}",
    ),
    Forgery(
        "volunteer",
        "a:waitlist:{unfit_shift}",
        {"en": "This shift was not offered to you"},
        "shift:{unfit_shift}",
    ),
    Forgery(
        "volunteer",
        "a:decline:{unfit_shift}",
        {"en": "This shift was not offered to you"},
        "shift:{unfit_shift}",
    ),
    Forgery("volunteer", "a:accept:424242", {"en": "This shift no longer exists"}, "shift:424242"),
    Forgery(
        "volunteer",
        "a:accept:99999999999999999999",
        {"en": "This shift no longer exists"},
        "shift:99999999999999999999",
    ),
    *(
        Forgery(who, "a:accept:{fit_shift}", {"it": "volontari approvati"}, "shift:{fit_shift}")
        for who in ("family", "member")
    ),
    Forgery("family", "a:decline:{fit_shift}", {"it": "volontari approvati"}, "shift:{fit_shift}"),
    Forgery(
        "member",
        "a:rsvp:{other_assembly}:present",
        {"it": "Non risulti tra gli invitati"},
        "assembly:{other_assembly}",
    ),
    Forgery(
        "family",
        "a:rsvp:{assembly}:present",
        {"it": "Non risulti tra gli invitati"},
        "assembly:{assembly}",
    ),
    Forgery(
        "volunteer",
        "a:rsvp:{assembly}:absent",
        {"en": "You are not among the people invited"},
        "assembly:{assembly}",
    ),
    *(
        Forgery("member", f"a:{name}:{{anna_invite}}", {"it": "delega non è più valida"}, target)
        for name, target in (
            ("proxy_yes", "invite:{anna_invite}"),
            ("proxy_no", "invite:{anna_invite}"),
        )
    ),
    Forgery("member", "a:proxy_yes:0", {"it": "delega non è più valida"}, "invite:0"),
]


@pytest.mark.parametrize("backend", ["memory", "postgres"])
@pytest.mark.parametrize("on", CHANNELS)
async def test_forged_action_payloads_are_refused_and_audited(
    app: App, channel: RecordingChannel, on: str
):
    world = await a_world(app, channel, on)
    before = await snapshot(app)
    for number, forgery in enumerate(FORGERIES, start=1):
        person = world.people[forgery.who]
        reply = await person.taps_payload(forgery.payload.format(**world.ids))
        locale = "en" if forgery.who == "volunteer" else "it"  # each in their language
        assert forgery.says[locale] in reply.text, (forgery, reply)
        assert NOTE not in reply.text
        audited = await refusals(app)
        assert len(audited) == number, forgery
        entry = audited[-1]
        assert entry.actor == f"person:{world.ids[forgery.who]}"
        assert entry.subject == forgery.target.format(**world.ids)
        assert entry.details == {
            "attempted": forgery.payload.split(":")[0] + ":" + forgery.payload.split(":")[1],
            "channel": on,
        }
    assert await snapshot(app) == before, "a forged button changed something"


@MEMORY_ONLY
@pytest.mark.parametrize("on", CHANNELS)
async def test_the_same_buttons_work_for_whom_they_were_meant(
    app: App, channel: RecordingChannel, on: str
):
    """The checks above block nobody they should not: nothing here is audited."""
    world = await a_world(app, channel, on)
    ids, people = world.ids, world.people
    reply = await people["volunteer"].taps_payload(f"a:accept:{ids['fit_shift']}")
    assert "You are on the shift" in reply.text or "Spesa" in reply.text
    reply = await people["bruno"].taps_payload(f"a:proxy_yes:{ids['anna_invite']}")
    assert "Anna Bianchi" in reply.text
    reply = await people["member"].taps_payload(f"a:rsvp:{ids['assembly']}:present")
    assert "Bilancio 2026" in reply.text
    reply = await people["coordinator"].taps_payload(f"a:take:{ids['request']}")
    assert "R-2026-0001" in reply.text
    assert await refusals(app) == []
    async with app.database.unit_of_work() as uow:
        anna = await uow.assemblies.invite_by_id(ids["anna_invite"])
        request = await uow.requests.get(ids["request"])
        taken = await uow.shifts.assignment(ids["fit_shift"], ids["volunteer"])
    assert anna is not None and (anna.delegate_id, anna.proxy_status) == (ids["bruno"], "accepted")
    assert request is not None and request.status == "triaged"
    assert taken is not None and taken.status == "confirmed"


@MEMORY_ONLY
@pytest.mark.parametrize("on", CHANNELS)
async def test_a_member_answers_only_for_themselves(app: App, channel: RecordingChannel, on: str):
    """Mario cannot answer in Anna's place; only Bruno, whom she chose, carries her vote,
    and only once he accepts."""
    world = await a_world(app, channel, on)
    ids, mario = world.ids, world.people["member"]
    assembly, anna = ids["assembly"], ids["anna_invite"]
    attempts = (
        f"a:rsvp:{assembly}:present:{ids['anna']}",  # an answer "for" someone else
        f"a:rsvp:{assembly}:proxy:{ids['anna']}",
        f"a:rsvp:{anna}:absent",  # her invitation's id as if it were an assembly
        f"a:proxy_yes:{anna}",  # her proxy, addressed to Bruno
        f"a:proxy_no:{anna}",
    )
    for payload in attempts:
        await mario.taps_payload(payload)
    async with app.database.unit_of_work() as uow:
        hers = await uow.assemblies.invite_by_id(anna)
        his = await uow.assemblies.invitation(assembly, ids["member"])
    assert hers is not None and (hers.answer, hers.delegate_id, hers.proxy_status) == (
        "proxy",
        ids["bruno"],
        "pending",
    )
    assert his is not None and his.answer is None
    await world.people["bruno"].taps_payload(f"a:proxy_yes:{anna}")
    async with app.database.unit_of_work() as uow:
        hers = await uow.assemblies.invite_by_id(anna)
    assert hers is not None and hers.proxy_status == "accepted"


@MEMORY_ONLY
@pytest.mark.parametrize("on", CHANNELS)
async def test_a_volunteer_never_reads_a_familys_note(app: App, channel: RecordingChannel, on: str):
    world = await a_world(app, channel, on)
    vera, vera_id = world.people["volunteer"], world.ids["volunteer"]
    request = world.ids["request"]
    await vera.says("menu")
    await vera.says("my requests")  # the family's menu entry
    await vera.taps_payload("my_requests")
    await vera.taps_payload(f"a:take:{request}")
    for step in ("requests.detail", "requests.cancel", "triage.detail", "triage.note"):
        await put_at(app, vera_id, step, {"request_id": request})
        await vera.says("help")  # the help, then the step's question again
        await put_at(app, vera_id, step, {"request_id": request})
        await vera.taps_payload("1")
    seen = "\n".join(m.text for m in channel.sent[vera.address])
    assert seen, "Vera was answered"
    assert NOTE not in seen and FAMILY_PHONE not in seen and "Maria Rossi" not in seen
    async with app.database.unit_of_work() as uow:
        still = await uow.requests.get(request)
    assert still is not None and still.status == "new"


async def revoked_at_the_card(world: World) -> Person:
    """Giulia opens a family's request; then the CLI takes her role away."""
    app, giulia_id = world.app, world.ids["coordinator"]
    giulia = world.people["coordinator"]
    async with app.database.unit_of_work() as uow:
        await uow.people.grant(giulia_id, "coordinator", by="cli")
    await giulia.says("menu")
    await giulia.taps("Richieste delle famiglie")
    card = await giulia.taps("R-2026-0001")
    assert NOTE in card.text
    async with app.database.unit_of_work() as uow:
        await uow.people.revoke(giulia_id, "coordinator")
    return giulia


@MEMORY_ONLY
async def test_a_coordinator_revoked_mid_conversation_can_go_no_further(
    app: App, channel: RecordingChannel
):
    """The buttons she still sees do nothing, and the card is not shown again."""
    world = await a_world(app, channel, "telegram")
    async with app.database.unit_of_work() as uow:
        await uow.people.grant(world.ids["coordinator"], "family", by="cli")
    for attempt in ("tap Cambia stato", "say aiuto", "say indietro"):
        giulia = await revoked_at_the_card(world)
        before = await snapshot(app)
        how, _, what = attempt.partition(" ")
        reply = await (giulia.taps(what) if how == "tap" else giulia.says(what))
        assert NOT_ALLOWED["it"] in reply.text, attempt
        assert NOTE not in reply.text
        assert await snapshot(app) == before
    subjects = [a.subject for a in await refusals(app)]
    assert subjects == ["step:triage.detail", "step:triage.detail", "step:triage.list"]
