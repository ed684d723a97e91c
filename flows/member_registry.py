"""The member registry (libro soci) imported from a CSV file: checked row by row,
idempotent by member number or phone; imported people are active members."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date, datetime

from flows.i18n import normalize
from flows.phones import normalize_phone
from storage.tables import Member, Person
from storage.unit_of_work import UnitOfWork

# the columns, with the Italian names a registry export may use
COLUMNS = {
    "name": ("name", "nome"),
    "surname": ("surname", "cognome"),
    "phone": ("phone", "telefono", "cellulare"),
    "since": ("member since", "member_since", "since", "socio dal", "data iscrizione"),
    "category": ("category", "member category", "categoria"),
    "email": ("email", "e-mail", "posta elettronica"),
    "number": ("member number", "member_number", "number", "numero", "numero socio", "matricola"),
}
REQUIRED = ("name", "surname", "phone", "since", "category")
CATEGORIES = {
    "worker": ("worker", "lavoratore", "lavoratrice", "socio lavoratore"),
    "volunteer": ("volunteer", "volontario", "volontaria", "socio volontario"),
    "user": ("user", "fruitore", "utente", "socio fruitore"),
    "financing": ("financing", "finanziatore", "sovventore", "socio sovventore"),
}
DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y")


@dataclass(frozen=True)
class MemberRow:
    line: int
    name: str
    phone: str
    since: date
    category: str
    email: str | None
    number: str | None


@dataclass(frozen=True)
class Rejected:
    line: int
    reason: str


@dataclass
class ImportReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)


class RegistryError(ValueError):
    """The file as a whole cannot be read (no header, a required column missing)."""


def _header(names: list[str]) -> dict[str, str]:
    wanted = {normalize(alias): column for column, aliases in COLUMNS.items() for alias in aliases}
    found = {wanted[normalize(n)]: n for n in names if normalize(n) in wanted}
    if missing := [c for c in REQUIRED if c not in found]:
        raise RegistryError(f"missing column(s): {', '.join(missing)}")
    return found


def _date(text: str) -> date | None:
    for pattern in DATE_FORMATS:
        try:
            return datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    return None


def _category(text: str) -> str | None:
    said = normalize(text)
    return next((c for c, words in CATEGORIES.items() if said in words), None)


def _row(line: int, cells: dict[str, str], region: str, today: date) -> MemberRow | Rejected:
    def cell(column: str) -> str:
        return " ".join(cells.get(column, "").split())

    if not cell("name") or not cell("surname"):
        return Rejected(line, "missing name or surname")
    if not cell("phone"):
        return Rejected(line, "missing phone")
    phone = normalize_phone(cell("phone"), region)
    if phone is None:
        return Rejected(line, f"bad phone {cell('phone')!r}")
    if not cell("since"):
        return Rejected(line, "missing member-since date")
    since = _date(cell("since"))
    if since is None:
        return Rejected(line, f"bad date {cell('since')!r} (use 2024-03-15 or 15/03/2024)")
    if since > today:
        return Rejected(line, f"member-since date {since} is in the future")
    category = _category(cell("category"))
    if category is None:
        return Rejected(line, f"unknown category {cell('category')!r} ({', '.join(CATEGORIES)})")
    email = cell("email") or None
    if email is not None and ("@" not in email or " " in email):
        return Rejected(line, f"bad email {email!r}")
    name = f"{cell('name')} {cell('surname')}"[:120]
    return MemberRow(line, name, phone, since, category, email, cell("number")[:20] or None)


def parse(text: str, region: str, today: date) -> tuple[list[MemberRow], list[Rejected]]:
    """The rows worth importing, and the others with the reason; duplicates are refused."""
    sample = text[:2048]
    dialect = csv.Sniffer().sniff(sample, delimiters=",;\t") if sample.strip() else csv.excel
    reader = csv.DictReader(io.StringIO(text), dialect=dialect)
    columns = _header(list(reader.fieldnames or []))
    rows: list[MemberRow] = []
    rejected: list[Rejected] = []
    phones: dict[str, int] = {}
    numbers: dict[str, int] = {}
    for raw in reader:
        line = reader.line_num
        cells = {column: raw.get(name) or "" for column, name in columns.items()}
        if not any(v.strip() for v in cells.values()):
            continue
        row = _row(line, cells, region, today)
        if isinstance(row, MemberRow) and row.phone in phones:
            row = Rejected(line, f"phone {row.phone} already on line {phones[row.phone]}")
        if isinstance(row, MemberRow) and row.number and row.number in numbers:
            row = Rejected(
                line, f"member number {row.number} already on line {numbers[row.number]}"
            )
        if isinstance(row, Rejected):
            rejected.append(row)
            continue
        phones[row.phone] = line
        if row.number:
            numbers[row.number] = line
        rows.append(row)
    return rows, rejected


async def import_rows(uow: UnitOfWork, rows: list[MemberRow], actor: str) -> ImportReport:
    """Add or update each member: found by member number first, then by phone."""
    report = ImportReport()
    for row in rows:
        entry = await uow.members.by_number(row.number) if row.number else None
        person = await uow.people.get(entry.person_id) if entry else None
        holder = await uow.people.by_phone(row.phone)
        if person is None:
            person = holder
        elif holder is not None and holder.id != person.id:
            reason = f"phone {row.phone} belongs to someone else than member {row.number}"
            report.rejected.append(Rejected(row.line, reason))
            continue
        created = person is None
        if person is None:
            person = await uow.people.add(Person(name=row.name, phone=row.phone))
        assert person.id is not None
        member = await uow.members.get(person.id) or Member(
            person_id=person.id, since=row.since, category=row.category
        )
        if member.number and row.number and member.number != row.number:
            reason = f"phone {row.phone} is member {member.number}, not {row.number}"
            report.rejected.append(Rejected(row.line, reason))
            continue
        before = (person.name, person.phone, member.since, member.category, member.email)
        after = (row.name, row.phone, row.since, row.category, row.email)
        roles = await uow.people.role_statuses(person.id)
        same = before == after and member.number == (row.number or member.number)
        if same and roles.get("member") == "active" and not created:
            report.unchanged.append(row.name)
            continue
        person.name, person.phone = row.name, row.phone
        member.since, member.category, member.email = row.since, row.category, row.email
        member.number = row.number or member.number
        await uow.members.save(member)
        await uow.people.grant(person.id, "member", by=actor)
        action = "member.imported" if created else "member.updated"
        await uow.audit.record(actor, action, f"person:{person.id}", line=row.line)
        (report.added if created else report.updated).append(row.name)
    return report
