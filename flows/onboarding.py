"""Sign-up: language, privacy consent, phone (where the channel can share it), name, role."""

from __future__ import annotations

from flows.config import PRIVACY_NOTICE_VERSION
from flows.i18n import LOCALES
from flows.messages import Choice, Reply, msg
from flows.phones import normalize_phone
from flows.roles import claim_role, role_choices
from flows.step import END, HOME, Answer, Context, Next, Question, Step

LANGUAGE_LABELS = {"it": msg("language.it"), "en": msg("language.en")}
LANGUAGE_CHOICES = tuple(Choice(code, LANGUAGE_LABELS[code]) for code in LOCALES)
NAME_MAX = 80


def next_sign_up_step(ctx: Context) -> str | None:
    """The first thing still missing to sign this person up, or None when done."""
    if ctx.person.locale is None:
        return "onboarding.language"
    if not ctx.consented:
        return "onboarding.consent"
    if (
        ctx.person.phone is None
        and ctx.incoming.can_share_contact
        and not ctx.data.get("phone_skipped")
    ):
        return "onboarding.phone"
    if not ctx.person.name:
        return "onboarding.name"
    if not ctx.roles:
        return "onboarding.role"
    return None


def onward(ctx: Context, *replies: Reply) -> Next:
    """On to the next missing piece, or to the menu with a welcome when complete."""
    step = next_sign_up_step(ctx)
    if step is None:
        return Next.to(HOME, *replies, Reply(msg("onboarding.done"), {"name": ctx.person.name}))
    return Next.to(step, *replies)


async def link_phone(ctx: Context, phone: str) -> None:
    """Attach a verified number; if someone holds it already, this account is theirs."""
    holder = await ctx.uow.people.by_phone(phone)
    if holder is None or holder.id == ctx.person.id:
        ctx.person.phone = phone
        return
    await ctx.uow.people.merge(ctx.person, holder)
    await ctx.uow.audit.record(f"person:{holder.id}", "person.accounts_linked")
    ctx.person = holder
    ctx.conversation.version = None  # merge dropped both states; this one is saved anew
    await ctx.reload_roles()


class ChooseLanguage(Step):
    name = "onboarding.language"

    async def ask(self, ctx: Context) -> Question:
        return Question(Reply(msg("onboarding.welcome"), choices=LANGUAGE_CHOICES))

    async def answer(self, ctx: Context, answer: Answer) -> Next:
        assert answer.choice is not None
        ctx.person.locale = answer.choice.id
        return onward(ctx)


class Consent(Step):
    name = "onboarding.consent"
    help = msg("help.consent")

    async def ask(self, ctx: Context) -> Question:
        return Question(
            Reply(
                msg("onboarding.privacy_notice"),
                choices=(
                    Choice("yes", msg("onboarding.accept"), words=msg("words.yes")),
                    Choice("no", msg("onboarding.refuse"), words=msg("words.no")),
                    Choice("more", msg("onboarding.read_more")),
                ),
            )
        )

    async def answer(self, ctx: Context, answer: Answer) -> Next:
        if answer.choice_id == "more":
            return Next.to(None, Reply(msg("privacy.full_notice")))
        if answer.choice_id == "no":
            await ctx.uow.audit.record(f"person:{ctx.person_id}", "person.consent_refused")
            return Next.to(END, Reply(msg("onboarding.consent_refused")))
        ctx.person.consent_at = ctx.now
        ctx.person.consent_version = PRIVACY_NOTICE_VERSION
        await ctx.uow.audit.record(
            f"person:{ctx.person_id}", "person.consented", version=PRIVACY_NOTICE_VERSION
        )
        if ctx.incoming.phone and ctx.person.phone is None:
            await link_phone(ctx, ctx.incoming.phone)
        return onward(ctx, Reply(msg("onboarding.consent_thanks")))


class SharePhone(Step):
    name = "onboarding.phone"
    help = msg("help.phone")

    async def ask(self, ctx: Context) -> Question:
        skip = Choice("skip", msg("onboarding.skip"), words=msg("words.skip"))
        reply = Reply(msg("onboarding.ask_phone"), choices=(skip,), request_contact=True)
        return Question(reply, free_text=True)

    async def answer(self, ctx: Context, answer: Answer) -> Next:
        if answer.choice_id == "skip":
            ctx.data["phone_skipped"] = True
            return onward(ctx)
        if answer.contact_phone is None:
            # a typed number proves nothing: it could be anyone's
            return Next.to(None, Reply(msg("onboarding.phone_use_button")))
        phone = normalize_phone(answer.contact_phone, ctx.settings.default_region)
        if phone is None:
            return Next.to(None, Reply(msg("onboarding.phone_invalid")))
        await link_phone(ctx, phone)
        return onward(ctx, Reply(msg("onboarding.phone_saved"), {"phone": phone}))


def clean_name(text: str) -> str | None:
    """A plausible name: letters present, no digits, at most NAME_MAX characters."""
    name = " ".join(text.split())
    if not 2 <= len(name) <= NAME_MAX:
        return None
    if not any(ch.isalpha() for ch in name) or any(ch.isdigit() for ch in name):
        return None
    return name


class AskName(Step):
    name = "onboarding.name"
    help = msg("help.name")

    async def ask(self, ctx: Context) -> Question:
        suggestion = ctx.incoming.profile_name and clean_name(ctx.incoming.profile_name)
        choices: tuple[Choice, ...] = ()
        if suggestion:
            label = msg("onboarding.use_name")
            choices = (Choice("suggested", label, {"name": suggestion}, msg("words.yes")),)
        return Question(Reply(msg("onboarding.ask_name"), choices=choices), free_text=True)

    async def answer(self, ctx: Context, answer: Answer) -> Next:
        if answer.choice is not None:
            name = str(answer.choice.params["name"])
        else:
            cleaned = clean_name(answer.text or "")
            if cleaned is None:
                return Next.to(None, Reply(msg("onboarding.name_invalid"), {"max": NAME_MAX}))
            name = cleaned
        ctx.person.name = name
        return onward(ctx)


class ChooseRole(Step):
    name = "onboarding.role"
    help = msg("help.role")

    async def ask(self, ctx: Context) -> Question:
        return Question(Reply(msg("onboarding.ask_role"), choices=role_choices()))

    async def answer(self, ctx: Context, answer: Answer) -> Next:
        assert answer.choice is not None
        claimed = await claim_role(ctx, answer.choice.id)
        if answer.choice.id == "volunteer":  # the coordinator approves a complete profile
            ctx.data["signing_up"] = True
            return Next.to("volunteer.skills", claimed, Reply(msg("onboarding.volunteer_profile")))
        return onward(ctx, claimed)


STEPS = (ChooseLanguage(), Consent(), SharePhone(), AskName(), ChooseRole())
