"""`cisono members` and `cisono assembly`: import with bad rows, status, the register."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from bot.cli import main
from tests.test_assembly import REGISTRY


def chat(monkeypatch: pytest.MonkeyPatch, lines: list[str], phone: str) -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO("".join(line + "\n" for line in lines)))
    return main(["chat", "--phone", phone])


def test_import_report_idempotence_and_the_register(
    cli_db: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
):
    soci = tmp_path / "soci.csv"
    soci.write_text(REGISTRY, encoding="utf-8")
    capsys.readouterr()
    assert main(["members", "import", str(soci), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "5 added, 0 updated, 0 unchanged, 3 rejected (dry run: nothing saved)" in out
    assert "line 7: bad phone '12'" in out
    assert "line 8: missing member-since date" in out
    assert "line 9: unknown category 'socio di fatto'" in out
    assert main(["members", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []

    assert main(["members", "import", str(soci)]) == 0
    assert "5 added, 0 updated" in capsys.readouterr().out
    soci.write_text(REGISTRY.replace("Dario;Galli", "Dario;Galli-Neri"), encoding="utf-8")
    assert main(["members", "import", str(soci)]) == 0
    assert "0 added, 1 updated, 4 unchanged, 3 rejected" in capsys.readouterr().out
    assert main(["members", "list", "--json"]) == 0
    members = json.loads(capsys.readouterr().out)
    assert [m["name"] for m in members][:2] == ["Anna Bianchi", "Bruno Neri"]
    assert members[0] | {"id": 0} == {
        "id": 0,
        "name": "Anna Bianchi",
        "phone": "+393331000001",
        "number": "1",
        "since": "2020-01-10",
        "category": "worker",
        "email": "anna@example.org",
    }

    args = ["assembly", "create", "--title", "Bilancio 2026", "--place", "Sala civica"]
    args += ["--second", "2030-12-16 18:00", "--deadline", "2030-12-12 20:00"]
    args += ["--agenda", "Bilancio", "--agenda", "Varie"]
    assert main([*args, "--first", "2030-12-16 09:00"]) == 1
    assert "cannot be on the same day" in capsys.readouterr().err
    assert main([*args, "--first", "2030-12-15 18:00"]) == 0
    assert "assembly 1 created, 5 members invited" in capsys.readouterr().out

    # Anna writes for the first time from the terminal: recognised, and answers
    chat(monkeypatch, ["ciao", "1", "sì", "menu", "assemblea dei soci", "ci sarò"], "3331000001")
    out = capsys.readouterr().out
    assert "La tua risposta: Ci sarò" in out

    assert main(["assembly", "status", "1", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert (status["invited"], status["voters"], status["present"], status["needed"]) == (
        5,
        5,
        1,
        3,
    )
    assert status["forecast_reached"] is False
    assert main(["assembly", "list"]) == 0
    assert "Bilancio 2026" in capsys.readouterr().out

    assert main(["assembly", "register", "1", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert rows[0]["name"] == "Anna Bianchi"
    assert rows[0]["attendance"] == "absent" and rows[0]["voting"] == "yes"
    assert set(rows[0]) == {
        "name",
        "phone",
        "voting",
        "attendance",
        "represented_by",
        "checked_in_at",
        "checked_in_by",
    }


def test_edit_check_in_and_cancel_from_the_command_line(
    cli_db: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
):
    soci = tmp_path / "soci.csv"
    soci.write_text(REGISTRY, encoding="utf-8")
    assert main(["members", "import", str(soci)]) == 0
    args = ["assembly", "create", "--title", "Bilancio 2030", "--place", "Sala civica"]
    args += ["--first", "2030-12-15 18:00", "--second", "2030-12-16 18:00"]
    args += ["--deadline", "2030-12-12 20:00", "--agenda", "Bilancio"]
    args += ["--remote", "https://meet.example.org/soci"]
    assert main(args) == 0
    chat(monkeypatch, ["ciao", "1", "sì"], "3331000001")  # Anna writes once: she can be told
    capsys.readouterr()

    def fails(argv: list[str]) -> str:
        capsys.readouterr()
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1
        return err

    assert "nothing to change" in fails(["assembly", "edit", "1"])
    refused = fails(["assembly", "edit", "1", "--second", "2030-12-15 20:00"])
    assert "The second call cannot be on the same day as the first." in refused
    assert "no open assembly 9" in fails(["assembly", "edit", "9", "--place", "Teatro"])
    edit = ["assembly", "edit", "1", "--first", "2030-12-14 18:00", "--place", "Teatro comunale"]
    edit += ["--agenda", "Bilancio", "--agenda", "Nomine", "--remote", ""]
    assert main(edit) == 0
    assert "assembly 1 changed, 5 members told" in capsys.readouterr().out
    chat(monkeypatch, ["menu"], "3331000001")
    out = capsys.readouterr().out
    assert "Ora: prima convocazione 14 dicembre 2030, 18:00, Teatro comunale" in out
    assert "Prima era: prima convocazione 15 dicembre 2030, 18:00, Sala civica" in out
    assert "2. Nomine" in out and "Partecipazione da remoto: non prevista" in out

    assert main(["assembly", "checkin", "1", "333 100 0001"]) == 0
    assert "Anna Bianchi marked present at assembly 1" in capsys.readouterr().out
    assert main(["assembly", "checkin", "1", "+393331000001"]) == 0
    assert "Anna Bianchi was already marked present" in capsys.readouterr().out
    assert "not invited to assembly 1" in fails(["assembly", "checkin", "1", "3339999999"])
    assert "not a valid phone number" in fails(["assembly", "checkin", "1", "12"])
    assert main(["assembly", "register", "1", "--format", "json"]) == 0
    anna = json.loads(capsys.readouterr().out)[0]
    assert (anna["name"], anna["attendance"], anna["checked_in_by"]) == (
        "Anna Bianchi",
        "present",
        "cli",
    )

    assert main(["assembly", "cancel", "1", "--reason", "Sala  inagibile"]) == 0
    assert "assembly 1 cancelled, 5 members told" in capsys.readouterr().out
    assert main(["assembly", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["status"] == "cancelled"
    chat(monkeypatch, ["menu"], "3331000001")
    out = capsys.readouterr().out
    assert "è stata annullata dalla cooperativa. Motivo: Sala inagibile" in out
    assert "no open assembly 1" in fails(["assembly", "cancel", "1"])
    assert "no open assembly 1" in fails(["assembly", "checkin", "1", "3331000002"])
    assert "no open assembly 1" in fails(["assembly", "edit", "1", "--title", "Altro"])
