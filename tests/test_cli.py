"""The `cisono` command: chat from a pipe, db upgrade, people, and one-line errors."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.cli import main


def chat(monkeypatch: pytest.MonkeyPatch, lines: list[str], *args: str) -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO("".join(line + "\n" for line in lines)))
    return main(["chat", *args])


def test_chat_from_a_pipe_prints_the_whole_conversation(
    cli_db: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    capsys.readouterr()
    volunteer = ["ciao", "1", "sì", "Maria Rossi", "2", "2", "fatto", "qualsiasi giorno"]
    code = chat(monkeypatch, volunteer, "--phone", "+393331112222")
    out = capsys.readouterr().out
    assert code == 0
    assert "> ciao" in out
    assert "In che lingua preferisci" in out
    assert "  1. Italiano\n  2. English" in out
    assert "> Maria Rossi" in out
    assert "Un coordinatore deve approvare la tua candidatura" in out
    assert "  1. Patente di guida\n  2. Assistenza anziani" in out
    assert "  1. Patente di guida\n  2. ✓ Assistenza anziani" in out
    assert "Benvenuto, Maria Rossi!" in out


def test_the_conversation_goes_on_in_the_next_session(
    cli_db: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    chat(monkeypatch, ["ciao", "1", "sì"], "--phone", "3331112222")
    capsys.readouterr()
    chat(monkeypatch, ["Maria Rossi"], "--phone", "3331112222")
    assert "Chi sei per la cooperativa?" in capsys.readouterr().out


def test_a_suggested_name(
    cli_db: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    chat(monkeypatch, ["ciao", "1", "sì"], "--name", "Gino Strada")
    out = capsys.readouterr().out
    assert "1. Sì, sono Gino Strada" in out


def test_people_grant_list_and_revoke(
    cli_db: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    assert main(["people", "grant", "coordinator", "333 777 0000"]) == 0
    assert "+393337770000 is now coordinator" in capsys.readouterr().out

    chat(monkeypatch, ["ciao", "1", "sì", "Giulia Verdi"], "--phone", "+393337770000")
    assert "Ruoli da approvare" in capsys.readouterr().out

    assert main(["people", "list", "--json"]) == 0
    (person,) = json.loads(capsys.readouterr().out)
    assert person["name"] == "Giulia Verdi"
    assert person["phone"] == "+393337770000"
    assert person["roles"] == [{"role": "coordinator", "status": "active"}]
    assert person["channels"] == ["terminal"]

    assert main(["people", "list"]) == 0
    assert "Giulia Verdi" in capsys.readouterr().out

    assert main(["people", "revoke", "coordinator", "+393337770000"]) == 0
    assert main(["people", "revoke", "coordinator", "+393337770000"]) == 1
    assert "did not have the role coordinator" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["people", "grant", "king", "+393331112222"], "'king' is not one of"),
        (["people", "grant", "family", "12"], "'12' is not a valid phone number"),
        (["people", "revoke", "family", "+393339998888"], "nobody with phone +393339998888"),
        (["people", "lst"], "No such command 'lst'"),
        (["chat", "--phone", "abc"], "'abc' is not a valid phone number"),
        (["people", "grant"], "Missing argument 'role'"),
    ],
)
def test_bad_arguments_give_one_line_and_a_failing_exit(
    cli_db: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
):
    capsys.readouterr()
    assert main(argv) != 0
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err


def test_an_old_database_is_reported_not_crashed_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.setenv("CISONO_DATABASE_URL", f"sqlite:///{tmp_path / 'new.db'}")
    assert chat(monkeypatch, ["ciao"]) == 1
    err = capsys.readouterr().err
    assert "run `cisono db upgrade`" in err and len(err.strip().splitlines()) == 1


def test_a_bad_setting_is_reported_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.setenv("CISONO_DATABASE_URL", f"sqlite:///{tmp_path / 'x.db'}")
    monkeypatch.setenv("CISONO_TIMEZONE", "Mars/Olympus")
    assert main(["people", "list"]) == 1
    assert "is not a known time zone" in capsys.readouterr().err


def test_an_unreachable_database_is_said_in_the_persons_language(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.setenv("CISONO_DATABASE_URL", "postgresql://postgres@127.0.0.1:1/nothing")
    assert main(["db", "upgrade"]) == 1
    assert "cannot reach the database" in capsys.readouterr().err


def test_help_everywhere(capsys: pytest.CaptureFixture[str]):
    for argv in (["--help"], ["people", "--help"], ["db", "--help"], ["chat", "--help"]):
        assert main(argv) == 0
    out = capsys.readouterr().out
    assert "people" in out and "upgrade" in out and "--phone" in out


def test_requests_list_show_and_export(
    cli_db: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    sign_up = ["ciao", "1", "sì", "Maria Rossi", "famiglia"]
    request = [
        "chiedi supporto",
        "anziani",
        "per un genitore",
        "80+",
        "Bologna",
        "qualsiasi giorno",
        "mattina",
        "urgente",
        "no",
        "conferma",
    ]
    chat(monkeypatch, sign_up + request, "--phone", "+393331112222")
    reference = f"R-{datetime.now(UTC).year}-0001"
    assert f"registrata con il numero {reference}" in capsys.readouterr().out

    (row,) = json.loads(output(capsys, ["requests", "list", "--json", "--status", "new"]))
    assert (row["reference"], row["category"], row["urgency"]) == (
        reference,
        "elderly_care",
        "urgent",
    )
    assert row["family_phone"] == "+393331112222"
    assert json.loads(output(capsys, ["requests", "list", "--json", "--status", "closed"])) == []
    assert reference in output(capsys, ["requests", "list"])

    shown = json.loads(output(capsys, ["requests", "show", reference.lower(), "--json"]))
    assert [e["kind"] for e in shown["history"]] == ["created"]
    assert "history" in output(capsys, ["requests", "show", reference])

    lines = output(capsys, ["requests", "export", "--format", "csv"]).splitlines()
    assert lines[0].startswith("reference,status,category")
    assert lines[1].startswith(f"{reference},new,elderly_care")

    assert main(["requests", "show", "R-1999-0001"]) == 1
    assert "no request R-1999-0001" in capsys.readouterr().err

    report = output(capsys, ["requests", "report"]).splitlines()
    month = datetime.now(UTC).strftime("%Y-%m")
    assert report == ["month,category,zone,requests", f"{month},elderly_care,Bologna,1"]
    assert "0 closed requests purged" in output(capsys, ["requests", "purge"])

    argv = ["requests", "status", reference, "scheduled", "--reason", "Lunedì alle 9, con Anna"]
    assert f"{reference} is now scheduled" in output(capsys, argv)
    shown = json.loads(output(capsys, ["requests", "show", reference, "--json"]))
    assert shown["status"] == "scheduled"
    assert shown["history"][-1] == shown["history"][-1] | {
        "actor": "cli",
        "status": "scheduled",
        "text": "Lunedì alle 9, con Anna",
    }
    # the family reads it the next time the outbox is drained (here: her next chat)
    chat(monkeypatch, ["menu"], "--phone", "+393331112222")
    out = capsys.readouterr().out
    assert f"La tua richiesta {reference} ora è: programmata. Lunedì alle 9, con Anna" in out
    assert main(["requests", "status", reference, "done"]) == 2


def output(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    capsys.readouterr()
    assert main(argv) == 0
    return capsys.readouterr().out


def test_shifts_create_list_show_and_a_volunteer_accepting_by_word(
    cli_db: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    volunteer = ["ciao", "1", "sì", "Marco Blu", "volontario", "fatto", "qualsiasi giorno"]
    chat(monkeypatch, volunteer, "--phone", "+393401112233")
    assert main(["people", "grant", "volunteer", "+393401112233"]) == 0
    argv = [
        "shifts",
        "create",
        "--title",
        "Trasporto al poliambulatorio",
        "--zone",
        "Bologna",
        "--start",
        "2030-03-04 09:00",
        "--end",
        "2030-03-04 11:00",
        "--needed",
        "2",
    ]
    assert "shift 1 created, offered to 1 volunteers" in output(capsys, argv)

    chat(monkeypatch, ["accetto"], "--phone", "+393401112233")
    out = capsys.readouterr().out
    assert "Nuovo turno: Trasporto al poliambulatorio" in out
    assert "Quando: dal 4 marzo 2030, 09:00 al 4 marzo 2030, 11:00" in out  # Rome time
    assert "il turno «Trasporto al poliambulatorio» è tuo" in out
    assert "📎 File: turno-1.ics" in out and "BEGIN:VCALENDAR" in out

    edit = ["shifts", "edit", "1", "--start", "5/3/2030 10:00", "--end", "12:00"]
    assert "shift 1 changed, 1 volunteers told" in output(
        capsys, [*edit, "--place", "Via Irnerio 5"]
    )
    chat(monkeypatch, ["menu"], "--phone", "+393401112233")
    out = capsys.readouterr().out
    assert "Ora: dal 5 marzo 2030, 10:00 al 5 marzo 2030, 12:00, Via Irnerio 5 (Bologna)" in out
    assert "Prima era: dal 4 marzo 2030, 09:00 al 4 marzo 2030, 11:00, Bologna" in out
    assert main(["shifts", "edit", "1", "--needed", "0"]) == 1
    assert "cannot go below the 1 volunteers who have already confirmed" in capsys.readouterr().err
    assert main(["shifts", "edit", "1", "--end", "9:00"]) == 1
    assert "The end must come after the start" in capsys.readouterr().err

    (shift,) = json.loads(output(capsys, ["shifts", "list", "--open", "--json"]))
    assert (shift["taken"], shift["needed"]) == (1, 2)
    shown = json.loads(output(capsys, ["shifts", "show", "1", "--json"]))
    assert shown["team"] == [{"name": "Marco Blu", "status": "confirmed"}]
    assert "Trasporto" in output(capsys, ["shifts", "list"])

    # a driver is needed: Marco has not said he drives, so he is not asked
    argv += ["--skill", "Patente di guida"]
    assert "shift 2 created, offered to 0 volunteers" in output(capsys, argv)
    assert main([*argv, "--request", "R-1999-0009"]) == 1
    assert "no request R-1999-0009" in capsys.readouterr().err
    assert main([*argv, "--skill", "Volare"]) == 1
    assert "unknown skill 'Volare'" in capsys.readouterr().err

    assert "marked attended" in output(capsys, ["shifts", "mark", "1", "+393401112233", "attended"])
    assert output(capsys, ["volunteers", "hours", "--month", "2030-03"]).splitlines() == [
        "name,phone,hours",
        "Marco Blu,+393401112233,2.0",
    ]
    assert "shift 2 cancelled, 0 volunteers told" in output(capsys, ["shifts", "cancel", "2"])
    assert main(["shifts", "cancel", "2"]) == 1
    assert main(["shifts", "mark", "1", "+393409999999", "missed"]) == 1
    assert "is not on shift 1" in capsys.readouterr().err
    assert main(["volunteers", "hours", "--month", "marzo"]) == 1

    bad = ["shifts", "create", "--title", "x", "--zone", "y", "--start", "domani", "--end", "x"]
    assert main(bad) == 1
    assert "is not a date and time like 2026-12-01 09:30" in capsys.readouterr().err
