"""A notice to the invitees of a members' assembly: in the chat (Italian and English) and with
`cisono broadcast send --audience assembly`, opt-outs left out, the preview per channel."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.app import App
from bot.cli import main
from tests.fakes import RecordingChannel
from tests.test_assembly import REGISTRY, convene, first_contact, import_registry, member
from tests.test_cli_assembly import chat
from tests.test_shifts import a_volunteer
from tests.transcript import a_coordinator


async def test_the_invitees_of_an_assembly_in_their_languages(app: App, channel: RecordingChannel):
    giulia = await a_coordinator(app, channel)
    await import_registry(app)
    anna = member(app, channel, "+393331000001")
    await first_contact(anna)
    bruno = member(app, channel, "+393331000002")
    await first_contact(bruno, language="2")  # English
    carla = member(app, channel, "+393331000003")
    await first_contact(carla)
    await carla.says("stop")
    marco = await a_volunteer(app, channel, "Marco Blu")  # not a member: not invited
    await convene(app)
    for person in (anna, bruno, carla, marco):
        person.unread()

    await giulia.says("menu")
    await giulia.says("avvisi")
    await giulia.taps("Nuovo avviso")
    await giulia.says("La sala civica ha cambiato ingresso: entrate da Via Verdi.")
    reply = await giulia.taps("Gli invitati a un'assemblea")
    assert "Quale assemblea? Lo ricevono tutti i soci invitati" in reply
    assert reply.buttons == ["Bilancio 2026, 15 dicembre 2026, 18:00", "Indietro"]
    await giulia.taps("Bilancio 2026")
    reply = await giulia.says("The town hall has a new entrance: come in from Via Verdi.")
    assert "Anteprima dell'avviso a Gli invitati a un'assemblea (1):" in reply
    assert "Lo riceveranno 2 persone (WhatsApp 2); lingue scritte: en, it." in reply
    assert "1 hanno chiesto di non ricevere messaggi" in reply
    reply = await giulia.taps("Invia")
    assert "Avviso #1 in partenza per 2 persone." in reply

    assert [m.text for m in anna.unread()] == [
        "📢 La sala civica ha cambiato ingresso: entrate da Via Verdi."
    ]
    assert [m.text for m in bruno.unread()] == [
        "📢 The town hall has a new entrance: come in from Via Verdi."
    ]
    assert carla.unread() == [] and marco.unread() == []


@pytest.mark.parametrize("backend", ["memory"])
async def test_in_english_and_with_no_assembly_to_pick(app: App, channel: RecordingChannel):
    giulia = await a_coordinator(app, channel)
    await giulia.says("language")
    await giulia.says("English")
    await import_registry(app)
    anna = member(app, channel, "+393331000001")
    await first_contact(anna)

    await giulia.says("menu")
    await giulia.says("notices")
    await giulia.taps("New notice")
    await giulia.says("Bring your member card.")
    reply = await giulia.taps("The invitees of an assembly")
    assert "There are no upcoming assemblies." in reply
    assert reply.buttons == ["Back"]
    reply = await giulia.taps("Back")
    assert "Who should get it?" in reply

    await convene(app)
    anna.unread()
    reply = await giulia.taps("The invitees of an assembly")
    assert "Which assembly? Every member invited gets it, with or without a vote." in reply
    assert reply.buttons == ["Bilancio 2026, 15 December 2026, 18:00", "Back"]
    await giulia.taps("Bilancio 2026")
    reply = await giulia.taps("Skip")
    assert "Preview of the notice to The invitees of an assembly (1):" in reply
    assert "1 people will get it (WhatsApp 1)" in reply
    await giulia.taps("Send")
    assert [m.text for m in anna.unread()] == ["📢 Bring your member card."]


def test_cisono_broadcast_send_to_an_assembly(
    cli_db: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
):
    soci = tmp_path / "soci.csv"
    soci.write_text(REGISTRY, encoding="utf-8")
    assert main(["members", "import", str(soci)]) == 0
    args = ["assembly", "create", "--title", "Bilancio 2026", "--place", "Sala civica"]
    args += ["--first", "2030-12-15 18:00", "--second", "2030-12-16 18:00"]
    args += ["--deadline", "2030-12-12 20:00", "--agenda", "Bilancio"]
    assert main(args) == 0
    assert chat(monkeypatch, ["ciao", "1", "sì"], "3331000001") == 0  # Anna: on the terminal
    assert (
        chat(monkeypatch, ["ciao", "1", "sì", "stop"], "3331000002") == 0
    )  # Bruno: no more notices
    assert main(["people", "grant", "volunteer", "+393339990000"]) == 0
    assert chat(monkeypatch, ["ciao", "1", "sì"], "3339990000") == 0  # a volunteer, not a member
    capsys.readouterr()

    send = ["broadcast", "send", "--text", "Portate la tessera.", "--audience", "assembly"]
    assert main([*send, "--yes"]) == 1
    assert "unknown audience assembly: give --assembly" in capsys.readouterr().err
    assert main([*send, "--assembly", "9", "--yes"]) == 1
    assert "unknown audience assembly 9: give --assembly" in capsys.readouterr().err
    assert main([*send, "--assembly", "1", "--yes"]) == 0
    out = capsys.readouterr().out
    assert "1 recipients (terminal 1); 1 left out (opted out)" in out
    assert "broadcast 1 queued" in out

    assert main(["broadcast", "show", "1", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["audience"], shown["audience_arg"]) == ("assembly", "1")
    assert (shown["recipients"], shown["opted_out"], shown["waiting"]) == (1, 1, 1)
    assert main(["broadcast", "list"]) == 0
    assert "assembly 1" in capsys.readouterr().out
