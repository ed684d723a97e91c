"""The conversation engine: one incoming message in, state and outbox rows out,
all in one transaction."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from flows import access
from flows.config import Clock, FlowSettings, SystemClock
from flows.incoming import Incoming
from flows.matching import global_command, match_choice
from flows.messages import Reply, joined, msg
from flows.notify import Notifier
from flows.onboarding import next_sign_up_step
from flows.ordering import KeyedLocks
from flows.step import (
    ACTION_PREFIX,
    BACK,
    END,
    HOME,
    Action,
    Answer,
    Context,
    Next,
    Question,
    Steps,
)
from storage.conversations import ConcurrencyConflict
from storage.tables import Person
from storage.turns import Turn
from storage.unit_of_work import Database, UnitOfWork
from storage.writers import Writer

log = logging.getLogger(__name__)
MAX_CONFLICT_RETRIES = 5
INBOUND_STAMP = timedelta(minutes=1)  # how fresh an account's last_inbound_at is kept
MENU_STEP = "menu.main"


@dataclass(frozen=True)
class Handled:
    duplicate: bool = False
    person_id: int | None = None
    replies: tuple[Reply, ...] = ()


class ConversationEngine:
    def __init__(
        self,
        database: Database,
        steps: Steps,
        settings: FlowSettings | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.database = database
        self.steps = steps
        self.settings = settings or FlowSettings()
        self.clock = clock or SystemClock()
        self.notifier = Notifier(self.settings, self.clock)
        self._locks = KeyedLocks()

    async def handle(self, incoming: Incoming) -> Handled:
        """Handle one message; replies are queued in the outbox, not sent."""
        incoming = incoming.cleaned()
        async with self._locks.hold((incoming.channel, incoming.external_id)):
            for _attempt in range(MAX_CONFLICT_RETRIES):
                try:
                    async with self.database.unit_of_work() as uow:
                        return await self._handle(uow, incoming)
                except ConcurrencyConflict:
                    # the same person wrote from another channel or process meanwhile
                    log.info(
                        "conversation moved under us, handling %s %s again",
                        incoming.channel,
                        incoming.inbound_id or "",
                    )
            raise ConcurrencyConflict(incoming.external_id)

    async def _handle(self, uow: UnitOfWork, incoming: Incoming) -> Handled:
        if incoming.inbound_id:
            arrival = await uow.people.arriving(
                incoming.channel, incoming.external_id, incoming.inbound_id
            )
            if not arrival.fresh:
                return Handled(duplicate=True)
            known = arrival.writer
        else:
            known = await uow.people.writing(incoming.channel, incoming.external_id)
        now = self.clock.now()
        writer = known or await self._new_writer(uow, incoming)
        person, account = writer.person, writer.account
        last = account.last_inbound_at
        if last is None or not timedelta(0) <= now - last < INBOUND_STAMP:
            # for the WhatsApp window (24 h) and the channel used last, a minute's
            # staleness costs nothing; an UPDATE on every message does
            account.last_inbound_at = now
        if account.unreachable_at is not None:
            account.unreachable_at = None  # writing to us means they no longer block us
        assert person.id is not None
        ctx = Context(
            uow=uow,
            person=person,
            account=account,
            conversation=writer.conversation,
            incoming=incoming,
            settings=self.settings,
            now=now,
            roles=writer.roles,
        )
        replies = await self._respond(ctx)
        rows = [
            self.notifier.message(ctx.account, ctx.person, r, erased=ctx.erased)
            for r in joined(replies)  # one message per turn, where one can show it all
        ]
        for note in ctx.notifications:
            if (found := await self.notifier.recipient(uow, note.person_id)) is not None:
                rows.append(self.notifier.message(*found, note.reply))
        if not ctx.erased:
            ctx.conversation.person_id = ctx.person_id  # a merge may have changed the person
        kept = None if ctx.erased else ctx.conversation
        await uow.turns.save(Turn(kept, incoming.channel, incoming.inbound_id, rows))
        return Handled(person_id=None if ctx.erased else person.id, replies=tuple(replies))

    async def _new_writer(self, uow: UnitOfWork, incoming: Incoming) -> Writer:
        """The person, the account, the roles and the conversation of a chat new to us."""
        # Someone the cooperative registered already (member registry, a coordinator
        # granted by CLI) is recognised by the number the channel vouches for.
        person = await uow.people.by_phone(incoming.phone) if incoming.phone else None
        if person is None:
            person = await uow.people.add(Person())  # only the chat id until consent
        assert person.id is not None
        account = await uow.people.add_account(person.id, incoming.channel, incoming.external_id)
        roles = await uow.people.role_statuses(person.id)
        return Writer(person, account, roles, await uow.conversations.load(person.id))

    async def _respond(self, ctx: Context) -> list[Reply]:
        command = global_command(ctx.incoming.text, ctx.incoming.choice)
        if command is not None:
            return await self._global(ctx, command)
        if (action := self.steps.action(ctx.incoming.choice)) is not None:
            return await self._act(ctx, *action)
        step = self.steps.get(ctx.conversation.step)
        if step is None:
            return await self._follow(ctx, Next(goto=HOME))
        if (refused := await access.refuse_step(ctx, step.name)) is not None:
            return await self._follow(ctx, Next.to(HOME, refused))
        question = await step.ask(ctx)
        answer = self._understand(ctx.incoming, question)
        if answer is None and (action := await self._worded_action(ctx)) is not None:
            return await self._act(ctx, *action)
        if answer is None:
            key = (
                msg("common.stale_choice") if ctx.incoming.choice else msg("common.not_understood")
            )
            return [Reply(key), question.reply]
        return await self._follow(ctx, await step.answer(ctx, answer))

    async def _act(self, ctx: Context, action: Action, argument: str) -> list[Reply]:
        """Run an action, unless its button is not this person's to press."""
        refused = await access.refuse_action(ctx, action.name, argument)
        step_next = Next.to(None, refused) if refused else await action.run(ctx, argument)
        return await self._follow(ctx, step_next)

    async def _worded_action(self, ctx: Context) -> tuple[Action, str] | None:
        """Words for a button of a recent notification ("accetto" for an offer's Accept),
        for people who cannot tap. Numbers stay with the current question."""
        text = (ctx.incoming.text or "").strip()
        if not text or text.isdigit():
            return None
        for message in await ctx.uow.outbox.latest_to(ctx.account.channel, ctx.account.external_id):
            choices = Reply.from_json(message.body).choices
            actions = [c for c in choices if c.id.startswith(ACTION_PREFIX)]
            if actions:
                chosen = match_choice(text, actions, strict=True)
                return self.steps.action(chosen.id) if chosen else None
        return None

    @staticmethod
    def _understand(incoming: Incoming, question: Question) -> Answer | None:
        choices = question.reply.choices
        if incoming.choice is not None:
            chosen = next((c for c in choices if c.id == incoming.choice), None)
            return Answer(choice=chosen) if chosen else None
        if incoming.contact_phone:
            wanted = question.reply.request_contact
            return Answer(contact_phone=incoming.contact_phone) if wanted else None
        text = (incoming.text or "").strip()
        if not text:
            return None
        chosen = match_choice(text, choices, strict=question.free_text)
        if chosen is not None:
            return Answer(choice=chosen, text=text)
        return Answer(text=text) if question.free_text else None

    async def _global(self, ctx: Context, command: str) -> list[Reply]:
        current = ctx.conversation.step
        if command == "help":
            step = self.steps.get(current)
            help_key = step.help if step else msg("help.general")
            return await self._follow(ctx, Next.to(None, Reply(help_key)))
        if command == "menu":
            if ctx.signed_up:
                return await self._follow(ctx, Next(goto=HOME))
            return await self._follow(ctx, Next.to(None, Reply(msg("common.sign_up_first"))))
        if command == "back":
            if ctx.conversation.history:
                return await self._follow(ctx, Next(goto=BACK))
            return await self._follow(ctx, Next.to(None, Reply(msg("common.nothing_back"))))
        if command == "cancel":
            if ctx.signed_up:
                return await self._follow(ctx, Next.to(HOME, Reply(msg("common.cancelled"))))
            return await self._follow(ctx, Next.to(END, Reply(msg("common.sign_up_paused"))))
        if command == "stop":
            ctx.person.opted_out_at = ctx.account.opted_out_at = ctx.now
            await ctx.uow.audit.record(f"person:{ctx.person_id}", "person.opted_out")
            return await self._follow(ctx, Next.to(END, Reply(msg("common.stopped"))))
        if command == "start":
            replies: list[Reply] = []
            ctx.account.opted_out_at = None
            if ctx.person.opted_out_at is not None:
                ctx.person.opted_out_at = None
                await ctx.uow.audit.record(f"person:{ctx.person_id}", "person.opted_in")
                replies.append(Reply(msg("common.restarted")))
            return replies + await self._follow(ctx, Next(goto=HOME))
        # language and privacy are side trips: "back" (or finishing) returns here
        target = "language.choose" if command == "language" else "privacy.menu"
        return await self._follow(ctx, Next(goto=target))

    async def _follow(self, ctx: Context, step_next: Next) -> list[Reply]:
        """Move the conversation where `step_next` says, and ask the question there."""
        conversation = ctx.conversation
        replies = list(step_next.replies)
        goto = step_next.goto
        if goto == BACK:
            goto = conversation.history.pop() if conversation.history else HOME
        elif goto not in (None, HOME, END) and conversation.step not in (None, goto):
            conversation.history.append(conversation.step)
        if goto in (HOME, END):
            conversation.history.clear()
            conversation.data.clear()
        if goto == HOME:
            goto = MENU_STEP if ctx.signed_up else self._sign_up_step(ctx)
        if goto == END or ctx.erased:
            conversation.step = None
            return replies
        if goto is not None:
            conversation.step = goto
        step = self.steps.get(conversation.step)
        if step is not None and (refused := await access.refuse_step(ctx, step.name)):
            # never ask a question (with what it shows) of someone who may not be there
            if refused not in replies:  # an action refused at this step said it already
                replies.append(refused)
            conversation.history.clear()
            conversation.data.clear()
            conversation.step = MENU_STEP if ctx.signed_up else self._sign_up_step(ctx)
            step = self.steps.get(conversation.step)
        if step is not None and step_next.ask:
            replies.append((await step.ask(ctx)).reply)
        return replies

    @staticmethod
    def _sign_up_step(ctx: Context) -> str:
        return next_sign_up_step(ctx) or MENU_STEP

    async def queue_notification(self, uow: UnitOfWork, person_id: int, reply: Reply) -> None:
        """Queue `reply` for someone, on the channel they used last, in their language."""
        await self.notifier.queue(uow, person_id, reply)
