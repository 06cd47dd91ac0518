"""Synthetic service-history exports for benchmarks and tests: invented people, the legacy file's defects.

`write_history_export(path, rows=N, bad_fraction=0.1)` writes exactly `floor(N * bad_fraction)` lines that the
importer must reject (empty lines, void services, `#REF!`, unreadable or negative amounts, no customer data) and
messy but valid lines for the rest (both date formats, `2,022` years, `$50.000`/`50,000` amounts, mixed-case or
blank categories, therapists and prices in service names, the placeholder date on ~10% of lines).
"""

import csv
import datetime
import random
from dataclasses import dataclass
from pathlib import Path

from ventas.importing.readers import HISTORY_COLUMNS

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
