"""Synthetic exports for benchmarks and tests: invented people, the legacy files' defects.

Two generators:
- `write_history_export(path, rows=N, bad_fraction=0.1)` (benchmarks, parser tests) writes exactly
  `floor(N * bad_fraction)` lines that the importer must reject (empty lines, void services, `#REF!`, unreadable or
  negative amounts, no customer data) and messy but valid lines for the rest (both date formats, `2,022` years,
  `$50.000`/`50,000` amounts, mixed-case or blank categories, therapists and prices in service names, the
  placeholder date on ~10% of lines).
- `write_demo_exports(history_path, clients_path, ...)` writes the demo history (`ventas.demo_data`) the way the
  real legacy exports look (see `DemoExportStats` and the constants below): the client export has each person's
  own contacts, but the history's contact columns do not identify people. Walk-in customers (not in the client
  export) carry the front-desk phone and, when an agency booked them, the agency's email; the rest of the
  contacts were filled by a spreadsheet lookup by name that went wrong in part of the file (an approximate
  VLOOKUP: names missing from the contact sheet took the contact of the name just before them, alphabetically,
  so long runs of neighbouring names share one phone or email); names not found at all show `#N/A`; blanks are
  `-`, `0` or `sin mail`. Categories are mixed case (`tinas`, `Masajes`), massages sometimes carry the therapist
  or the price in the service name, and there is no catalogue: only service names and categories.
"""

import csv
import datetime
import random
from dataclasses import dataclass
from pathlib import Path

from ventas.formatting import format_number
from ventas.importing.readers import CLIENT_COLUMNS, HISTORY_COLUMNS
from ventas.normalize import normalize_phone, search_key

FIRST = [
    "Camila",
    "Valentina",
    "Francisca",
    "Ignacia",
    "Antonia",
    "Josefa",
    "Martina",
    "Catalina",
    "Matías",
    "Benjamín",
    "Vicente",
    "Tomás",
    "Joaquín",
    "Agustín",
    "Cristóbal",
    "Diego",
]
LAST = [
    "Rojas",
    "Soto",
    "Contreras",
    "Silva",
    "Martínez",
    "Sepúlveda",
    "Morales",
    "Rodríguez",
    "Fuentes",
    "Valenzuela",
    "Araya",
    "Espinoza",
    "Torres",
    "Castillo",
    "Núñez",
    "Tapia",
]
SERVICES = [
    ("Tina Calbuco", "Tinas", 50000),
    ("Tina Osorno", "tinas", 45000),
    ("Hidromasaje Llanquihue", "Masajes", 60000),  # mis-filed in the legacy export: must end up in Tinas
    ("Masaje Rel. o Desc. Diana", "masajes", 35000),
    ("Masaje Valentina 35.000", "", 35000),
    ("Masaje Piedras Calientes", "Masajes", 40000),
    ("Reflexología", "Masajes", 30000),
    ("Cabaña Arrayán", "cabañas", 90000),
    ("Cabaña Ulmo", "Cabañas", 85000),
    ("Ambientación Romántica", "decoración", 25000),
    ("Desayuno", "", 12000),
]
BAD_KINDS = ["empty", "void", "ref", "amount", "nobody", "negative"]
VOIDS = ["Servicio Anulado", "masaje eliminado", "tina eliminada"]


@dataclass
class ExportStats:
    rows: int
    bad: int
    placeholder: int


def _amount(value: int, rng: random.Random) -> str:
    style = rng.randrange(5)
    thousands = f"{value:,}"
    return [str(value), thousands, thousands.replace(",", "."), "$" + thousands.replace(",", "."), str(value)][style]


def _date(day: datetime.date, rng: random.Random) -> str:
    return day.isoformat() if rng.random() < 0.5 else day.strftime("%d/%m/%Y")


def write_history_export(
    path: str | Path,
    *,
    rows: int,
    bad_fraction: float = 0.1,
    seed: int = 1,
    customers: int | None = None,
    encoding: str = "utf-8",
) -> ExportStats:
    rng = random.Random(seed)
    customers = customers or max(10, min(50_000, rows // 20))
    people = []
    for i in range(customers):
        name = f"{rng.choice(FIRST)} {rng.choice(LAST)} {rng.choice(LAST)}"
        email = f"cliente{i}@example.org" if rng.random() < 0.8 else ""
        phone = f"+569{10_000_000 + i:08d}" if rng.random() < 0.7 else ""
        people.append((name, email, phone))
    start, span = datetime.date(2019, 1, 1), 6 * 365
    placeholder = datetime.date(2021, 1, 1)
    stats = ExportStats(rows=rows, bad=0, placeholder=0)
    with Path(path).open("w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*HISTORY_COLUMNS, "", ""])
        for i in range(rows):
            name, email, phone = rng.choice(people)
            variant = rng.randrange(3)
            shown = [name, name.upper(), "  " + name.lower().replace(" ", "  ")][variant]
            service, category, price = rng.choice(SERVICES)
            if rng.random() < 0.1:
                day = placeholder
                stats.placeholder += 1
            else:
                day = start + datetime.timedelta(days=rng.randrange(span))
            year = f"{day.year:,}" if rng.random() < 0.3 else str(day.year)
            quantity = 1 if rng.random() < 0.9 else 2
            amount = _amount(price * quantity, rng)
            line = [shown, service, quantity, amount, 10_000 + i // 3, _date(day, rng), category, year, "15:00"]
            line += [email, phone, "", ""]
            if int((i + 1) * bad_fraction) > int(i * bad_fraction):
                stats.bad += 1
                if day == placeholder:
                    stats.placeholder -= 1
                kind = BAD_KINDS[stats.bad % len(BAD_KINDS)]
                if kind == "empty" and i == rows - 1:
                    kind = "void"  # trailing empty lines are padding, not data lines
                if kind == "empty":
                    line = [""] * len(line)
                elif kind == "void":
                    line[1] = rng.choice(VOIDS)
                elif kind == "ref":
                    line[3] = "#REF!"
                elif kind == "amount":
                    line[3] = "consultar"
                elif kind == "nobody":
                    line[0] = line[9] = line[10] = ""
                else:
                    line[3] = f"-{price}"
            writer.writerow(line)
    return stats


# ----------------------------------------------------------------------------------------------------------------
# The demo history as a real export.

FRONT_DESK_PHONE = "65 223 4567"  # Aremko's reception (invented): the phone of every walk-in
AGENCY_EMAILS = (  # (email, share of agency-booked walk-ins)
    ("reservas@turismo-lagos.example.com", 0.8),
    ("ventas@sur-andino.example.net", 0.1),
    ("contacto@patagonia-viajes.example.org", 0.10),
)
WALK_IN_SHARE = 0.18  # customers with history who are not in the client export
AGENCY_SHARE = 0.85  # walk-ins whose email column holds an agency's email
NOT_FOUND_SHARE = 0.05  # names the lookup did not find at all: #N/A in both contact columns
WRONG_RUN_START = 0.7  # chance that a name starts a run of names missing from the contact sheet
RUN_ALPHA = 1.15  # Pareto tail of a run's length: most runs are 2-6 names, a few are dozens
MAX_RUN = 160
BLANK_CONTACTS = ("", "", "-", "0")
BLANK_EMAILS = ("", "", "-", "sin mail", "0")
LOWER_CASE_CATEGORY_SHARE = 0.3
THERAPISTS = ("Diana", "Valentina", "Carla", "Pamela")


@dataclass
class DemoExportStats:
    """What was written, and the traits of the history's contact columns (names are `search_key`-normalised)."""

    history_rows: int = 0
    clients: int = 0
    people_with_history: int = 0
    walk_ins: int = 0
    phones: int = 0  # distinct normalised phones in the history
    phones_3_names: int = 0
    phones_10_names: int = 0
    phone_max_names: int = 0
    emails: int = 0
    emails_3_names: int = 0
    emails_10_names: int = 0
    email_max_names: int = 0
    not_available: int = 0  # rows with #N/A in a contact column

    def lines(self) -> list[str]:
        return [
            f"Historial: {format_number(self.history_rows)} filas de {format_number(self.people_with_history)} "
            f"personas ({format_number(self.walk_ins)} sin ficha de cliente); clientes: {format_number(self.clients)}.",
            f"Teléfonos distintos: {format_number(self.phones)}; con 3 o más nombres: "
            f"{format_number(self.phones_3_names)}; con 10 o más: {format_number(self.phones_10_names)}; "
            f"máximo: {format_number(self.phone_max_names)} nombres.",
            f"Emails distintos: {format_number(self.emails)}; con 3 o más nombres: "
            f"{format_number(self.emails_3_names)}; con 10 o más: {format_number(self.emails_10_names)}; "
            f"máximo: {format_number(self.email_max_names)} nombres.",
            f"Filas con #N/A en el contacto: {format_number(self.not_available)}.",
        ]


@dataclass(frozen=True)
class _Person:
    position: int
    name: str
    email: str
    phone: str  # as typed (raw), "" when none
    walk_in: bool  # not in the client export: front-desk phone, maybe an agency's email
    not_found: bool  # the lookup did not find the name: #N/A


def _typed_phone(rng: random.Random, e164: str | None) -> str:
    if not e164:
        return ""
    if not e164.startswith("+569"):
        return e164
    digits = e164[4:]
    return rng.choice((e164, f"+56 9 {digits[:4]} {digits[4:]}", f"9{digits}", f"569{digits}", f"9 {digits}"))


def _lookup_contacts(people: list[_Person], rng: random.Random, field: str, blanks) -> dict[int, str]:
    """The contact column as the broken lookup filled it, per person (position -> cell).

    Names are walked in alphabetical order; at any name a run of the following names may be missing from the
    contact sheet, and then they all take the contact of the name that starts the run (which keeps its own).
    A run that starts on a person without that contact hands out the empty cell the lookup returned (`0`).
    """
    found = (p for p in people if not (p.walk_in or p.not_found))
    ordered = sorted(found, key=lambda p: (search_key(p.name), p.position))
    cells: dict[int, str] = {}
    index = 0
    while index < len(ordered):
        anchor = ordered[index]
        own = getattr(anchor, field)
        cells[anchor.position] = own or rng.choice(blanks)
        index += 1
        if rng.random() < WRONG_RUN_START:
            length = min(MAX_RUN, 2 + int(1.5 * (rng.paretovariate(RUN_ALPHA) - 1)))
            for person in ordered[index : index + length]:
                cells[person.position] = own or "0"
            index += length
    return cells


def _export_people(clients, rng: random.Random) -> list[_Person]:
    people = []
    for client in clients:
        if client.history:
            walk_in = rng.random() < WALK_IN_SHARE
            not_found = not walk_in and rng.random() < NOT_FOUND_SHARE
            phone = _typed_phone(rng, client.telefono)
            people.append(_Person(client.position, client.nombre, client.email, phone, walk_in, not_found))
    return people


def _shown_name(rng: random.Random, name: str) -> str:
    draw = rng.random()
    if draw < 0.06:
        return name.upper()
    if draw < 0.09:
        return name.lower()
    return name


def _service_as_written(rng: random.Random, name: str, category: str, price: int) -> str:
    if category == "Masajes" and name.startswith("Masaje"):
        draw = rng.random()
        if draw < 0.08:
            return f"{name} {rng.choice(THERAPISTS)}"
        if draw < 0.12:
            return f"{name} {price:,}".replace(",", ".")
    return name


def write_demo_exports(
    history_path: str | Path,
    clients_path: str | Path | None = None,
    *,
    scale: float = 1.0,
    seed: int | None = None,
    profile: str | None = None,
    today: datetime.date,
    truth_path: str | Path | None = None,
    encoding: str = "utf-8",
) -> DemoExportStats:
    """Write the demo history (and, when `clients_path` is given, the client export) shaped like the real files.

    Deterministic for a seed. `truth_path` gets `linea,persona` (the file line and the demo person's position), a
    side file for tests that check who each history line really belongs to; the export itself carries no such id.
    """
    from ventas import demo_data  # the demo generator imports the importer's writers: import it when used

    seed = demo_data.DEFAULT_SEED if seed is None else seed
    profile = profile or demo_data.DEFAULT_PROFILE
    # Seeded without the profile: both profiles have the same people with the same contact columns.
    rng = random.Random(f"aremko-export:{seed}")
    clients = [
        c for chunk in demo_data.iter_client_chunks(seed=seed, scale=scale, today=today, profile=profile) for c in chunk
    ]
    people = _export_people(clients, rng)
    by_position = {p.position: p for p in people}
    phones = _lookup_contacts(people, rng, "phone", BLANK_CONTACTS)
    emails = _lookup_contacts(people, rng, "email", BLANK_EMAILS)
    agencies = [email for email, _ in AGENCY_EMAILS]
    weights = [share for _, share in AGENCY_EMAILS]
    for person in people:
        if person.walk_in:
            phones[person.position] = FRONT_DESK_PHONE
            agency = rng.random() < AGENCY_SHARE
            emails[person.position] = rng.choices(agencies, weights)[0] if agency else rng.choice(BLANK_EMAILS)
        elif person.not_found:
            phones[person.position] = emails[person.position] = "#N/A"

    # One line per service, in booking order; each reservation gets a number, as in the legacy system.
    rows = sorted(
        ((row.service_date, row.reserva_id, c.position, row) for c in clients for row in c.history),
        key=lambda item: (item[0], item[1]),
    )
    stats = DemoExportStats(people_with_history=len(people), walk_ins=sum(p.walk_in for p in people))
    reservas: dict[str, int] = {}
    phone_names: dict[str, set[str]] = {}
    email_names: dict[str, set[str]] = {}
    truth = Path(truth_path).open("w", encoding="utf-8", newline="") if truth_path else None  # noqa: SIM115
    try:
        truth_writer = csv.writer(truth) if truth else None
        if truth_writer:
            truth_writer.writerow(["linea", "persona"])
        with Path(history_path).open("w", encoding=encoding, newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow([*HISTORY_COLUMNS, "", ""])
            for line, (day, reserva_id, position, row) in enumerate(rows, start=2):
                person = by_position[position]
                reserva = reservas.setdefault(reserva_id, 20_000 + len(reservas))
                category = row.service_type.lower() if rng.random() < LOWER_CASE_CATEGORY_SHARE else row.service_type
                unit = row.price_paid // max(row.quantity, 1)
                service = _service_as_written(rng, row.service_name, row.service_type, unit)
                phone, email = phones[position], emails[position]
                writer.writerow(
                    [
                        _shown_name(rng, person.name),
                        service,
                        row.quantity,
                        _amount(row.price_paid, rng) if rng.random() < 0.15 else row.price_paid,
                        reserva,
                        _date(day, rng),
                        category,
                        f"{day.year:,}" if rng.random() < 0.2 else day.year,
                        f"{rng.choice((10, 12, 15, 17, 19))}:00",
                        email,
                        phone,
                        "",
                        "",
                    ]
                )
                if truth_writer:
                    truth_writer.writerow([line, position])
                stats.history_rows += 1
                stats.not_available += "#N/A" in (phone, email)
                name_key = search_key(person.name)
                if normalized := normalize_phone(phone):
                    phone_names.setdefault(normalized, set()).add(name_key)
                if "@" in email:
                    email_names.setdefault(email.lower(), set()).add(name_key)
    finally:
        if truth:
            truth.close()
    _count_shared(stats, phone_names, "phone")
    _count_shared(stats, email_names, "email")
    if clients_path:
        stats.clients = _write_clients(clients_path, clients, by_position, rng, encoding)
    return stats


def _count_shared(stats: DemoExportStats, names: dict[str, set[str]], kind: str) -> None:
    sizes = [len(found) for found in names.values()]
    setattr(stats, f"{kind}s", len(sizes))
    setattr(stats, f"{kind}s_3_names", sum(size >= 3 for size in sizes))
    setattr(stats, f"{kind}s_10_names", sum(size >= 10 for size in sizes))
    setattr(stats, f"{kind}_max_names", max(sizes, default=0))


def _write_clients(path, clients, people: dict, rng: random.Random, encoding: str) -> int:
    """The client export: every customer except walk-ins, with their own (unique) email and phone."""
    written = 0
    with Path(path).open("w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CLIENT_COLUMNS)
        for client in clients:
            person = people.get(client.position)
            if person and person.walk_in:
                continue
            reservas = len({row.reserva_id for row in client.history})
            writer.writerow(
                [
                    written + 1,
                    f"rec{client.position:07d}",
                    client.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                    client.email,
                    _typed_phone(rng, client.telefono),
                    reservas,
                    client.nombre,
                    client.documento_identidad,
                    client.ciudad,
                    "",
                ]
            )
            written += 1
    return written
