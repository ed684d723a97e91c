"""Privacy from the chat: what is stored, a JSON export, and erasure."""

from __future__ import annotations

import json
from typing import Any

from flows.i18n import language_name
from flows.messages import Attachment, Choice, Reply, msg
from flows.roles import role_names
from flows.step import BACK, BACK_CHOICE, END, Answer, Context, Next, Question, Step, yes_no


async def personal_data(ctx: Context) -> dict[str, Any]:
    """Everything stored about the person, as a JSON-ready document."""
    person, uow = ctx.person, ctx.uow
    me = f"person:{ctx.person_id}"
    accounts = await uow.people.accounts(ctx.person_id)
    messages = await uow.outbox.for_person(ctx.person_id)
    audit = await uow.audit.entries(about=me)
    requests = await uow.requests.of_family(ctx.person_id)
    return {
        "person": {
            "id": person.id,
            "name": person.name,
            "phone": person.phone,
            "language": ctx.locale,
            "timezone": ctx.timezone,
            "consent_at": person.consent_at.isoformat() if person.consent_at else None,
            "consent_version": person.consent_version,
            "opted_out_at": person.opted_out_at.isoformat() if person.opted_out_at else None,
            "created_at": person.created_at.isoformat(),
        },
        "roles": [{"role": role, "status": status} for role, status in sorted(ctx.roles.items())],
        "accounts": [
            {"channel": a.channel, "id": a.external_id, "since": a.created_at.isoformat()}
            for a in accounts
        ],
        "conversation": {"step": ctx.conversation.step, "data": ctx.conversation.data},
        "support_requests": [
            {
                "reference": r.reference,
                "category": r.category,
                "for_whom": r.beneficiary,
                "age_band": r.age_band,
                "zone": r.zone,
                "days": r.days,
                "times": r.times,
                "urgency": r.urgency,
                "notes": r.notes,
                "status": r.status,
                "created_at": r.created_at.isoformat(),
            }
            for r in requests
        ],
        "messages_sent_to_you": [
            {
                "at": m.created_at.isoformat(),
                "channel": m.channel,
                "message": said.get("key"),
                "params": said.get("params"),
                "status": m.status,
            }
            for m in messages
            for said in (*m.body.get("lead", ()), m.body)  # what one message said, in order
        ],
        "activity": [{"at": e.at.isoformat(), "action": e.action} for e in audit],
    }


class PrivacyMenu(Step):
    name = "privacy.menu"
    help = msg("help.privacy")

    async def ask(self, ctx: Context) -> Question:
        if not ctx.consented:
            notice = Choice("notice", msg("privacy.read_notice"))
            return Question(Reply(msg("privacy.nothing_stored"), choices=(notice, BACK_CHOICE)))
        choices = (
            Choice("show", msg("privacy.show")),
            Choice("export", msg("privacy.export")),
            Choice("erase", msg("privacy.erase")),
            BACK_CHOICE,
        )
        return Question(Reply(msg("privacy.title"), choices=choices))

    async def answer(self, ctx: Context, answer: Answer) -> Next:
        choice = answer.choice_id
        if choice == "notice":
            return Next.to(None, Reply(msg("privacy.full_notice")))
        if choice == "show":
            return Next.to(None, await self._summary(ctx))
        if choice == "export":
            document = json.dumps(await personal_data(ctx), ensure_ascii=False, indent=2)
            attachment = Attachment("cisono-my-data.json", "application/json", document)
            return Next.to(None, Reply(msg("privacy.export_ready"), attachment=attachment))
        if choice == "erase":
            return Next(goto="privacy.erase")
        return Next(goto=BACK)

    @staticmethod
    async def _summary(ctx: Context) -> Reply:
        accounts = await ctx.uow.people.accounts(ctx.person_id)
        return Reply(
            msg("privacy.stored"),
            {
                "name": ctx.person.name or "-",
                "phone": ctx.person.phone or "-",
                "language": language_name(ctx.locale),
                "timezone": ctx.timezone,
                "consent_at": ctx.person.consent_at,
                "roles": role_names(ctx, ctx.roles),
                "channels": ", ".join(sorted({a.channel for a in accounts})),
            },
        )


class ConfirmErase(Step):
    name = "privacy.erase"
    help = msg("help.privacy")

    async def ask(self, ctx: Context) -> Question:
        return Question(yes_no(msg("privacy.confirm_erase")))

    async def answer(self, ctx: Context, answer: Answer) -> Next:
        if answer.choice_id != "yes":
            return Next.to(BACK, Reply(msg("privacy.erase_kept")))
        # the audit row names only the id: it proves the erasure without keeping data
        await ctx.uow.audit.record(f"person:{ctx.person_id}", "person.erased")
        await ctx.uow.requests.forget_family(ctx.person_id)
        await ctx.uow.people.erase(ctx.person)
        ctx.erased = True
        return Next.to(END, Reply(msg("privacy.erased")))


STEPS = (PrivacyMenu(), ConfirmErase())
