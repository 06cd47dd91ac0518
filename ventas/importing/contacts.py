"""Which contact values in an export identify a person, and which do not.

The legacy history export fills its `mail`/`telefono` columns from a spreadsheet lookup, the front desk's and
the agencies' contacts, and junk (`#N/A`, `sin mail`, `0`). Such values are not identities:

- junk values are empty (`is_junk_email`, `is_junk_phone`);
- the business's own phones and emails (`settings.HOUSE_CONTACTS`) are always ignored;
- a contact seen in one file with `settings.IMPORT_SHARED_CONTACT_NAMES` (default 3) or more distinct
  normalised names is *shared* (`scan_contacts`): the importer never matches, merges, creates or completes a
  customer through it.

`mask_contact` is the one way a shared contact is shown to staff (summary and report).
"""

import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from django.conf import settings

from ventas.normalize import normalize_phone, search_key

# Cells that mean "no contact", compared after search_key (lower-case, no accents, single spaces).
JUNK_VALUES = frozenset(
    {
        "-",
        "--",
        ".",
        "0",
        "00",
        "x",
        "xx",
        "xxx",
        "na",
        "n/a",
        "n/d",
        "nd",
        "s/i",
        "s/m",
        "no",
        "no tiene",
        "notiene",
        "ninguno",
        "sin",
        "sin mail",
        "sin email",
        "sin e-mail",
        "sin correo",
        "sin telefono",
        "sin fono",
        "sin dato",
        "sin datos",
        "sin informacion",
        "none",
        "null",
        "#n/a",
        "#na",
        "#ref!",
        "#value!",
        "#name?",
        "#div/0!",
        "#null!",
        "#num!",
        "#error!",
    }
)
# Local parts of emails typed to fill a mandatory field (`sinmail@gmail.com`, `notiene@aremko.cl`).
_JUNK_LOCAL_PARTS = frozenset(
    {"sinmail", "sin.mail", "sin_mail", "sincorreo", "sin.correo", "notiene", "no.tiene", "nomail", "no", "na", "x"}
)
_REPEATED = re.compile(r"^(\d)\1+$")


def is_junk_cell(raw) -> bool:
    return search_key(str(raw or "")) in JUNK_VALUES


def is_junk_email(email: str) -> bool:
    """A normalised email that stands for "no email": `sinmail@…`, `xxx@xxx.cl`."""
    local, _, domain = email.partition("@")
    return local in _JUNK_LOCAL_PARTS or bool(re.fullmatch(r"x+", local)) or domain.split(".")[0] in {"xxx", "x"}


def is_junk_phone(phone: str) -> bool:
    """A normalised phone made of one repeated digit after the country code (`+56900000000`, `+56999999999`)."""
    national = phone.removeprefix("+56").removeprefix("9") if phone.startswith("+56") else phone[1:]
    return bool(_REPEATED.match(national))


def normalize_contact(raw: str) -> str:
    """A HOUSE_CONTACTS entry as the importer compares it: a lower-case email or an E.164 phone."""
    raw = raw.strip()
    if "@" in raw:
        return raw.lower()
    return normalize_phone(raw) or ""


def house_contacts() -> frozenset[str]:
    return frozenset(filter(None, (normalize_contact(value) for value in settings.HOUSE_CONTACTS)))


def mask_contact(contact: str) -> str:
    """`maria@gmail.com` -> `ma***@gmail.com`; `+56912345257` -> `+56 9 **** *257`; other phones keep their
    country prefix and last three digits.
    """
    if "@" in contact:
        local, _, domain = contact.partition("@")
        return f"{local[:2]}***@{domain}"
    if contact.startswith("+569") and len(contact) == 12:
        return f"+56 9 **** *{contact[-3:]}"
    if contact.startswith("+56") and len(contact) == 12:
        return f"+56 {contact[3]} **** *{contact[-3:]}"
    if len(contact) > 6:
        return f"{contact[:3]} {'*' * (len(contact) - 6)}{contact[-3:]}"
    return "*" * len(contact)


@dataclass(frozen=True)
class SharedContact:
    contact: str
    rows: int
    names: int

    @property
    def masked(self) -> str:
        return mask_contact(self.contact)


@dataclass
class ContactScan:
    """Per contact of one file: its rows and the distinct names carrying it."""

    threshold: int
    rows: Counter = field(default_factory=Counter)
    names: dict[str, set[str]] = field(default_factory=dict)

    def add(self, contact: str, name_key: str, rows: int) -> None:
        self.rows[contact] += rows
        if name_key:
            self.names.setdefault(contact, set()).add(name_key)

    def shared(self) -> list[SharedContact]:
        """Shared contacts, most names first."""
        found = [
            SharedContact(contact, self.rows[contact], len(names))
            for contact, names in self.names.items()
            if len(names) >= self.threshold
        ]
        return sorted(found, key=lambda item: (-item.names, -item.rows, item.contact))


def scan_contacts(identities: Iterable[tuple[tuple, int]], normalise, *, threshold: int | None = None) -> ContactScan:
    """Count names per contact. `identities` yields (raw cells triple, row count) — distinct triples, so the
    caller can count a file's rows first and normalise each distinct (name, email, phone) once; `normalise`
    turns a triple into an object with `name_key`, `email` and `phone` (without junk and house contacts).
    """
    scan = ContactScan(threshold=threshold if threshold is not None else settings.IMPORT_SHARED_CONTACT_NAMES)
    for triple, rows in identities:
        identity = normalise(*triple)
        if identity.email:
            scan.add(identity.email, identity.name_key, rows)
        if identity.phone:
            scan.add(identity.phone, identity.name_key, rows)
    return scan


def summary_lines(shared: list[SharedContact]) -> Iterator[str]:
    for item in shared:
        yield f"  {item.masked}: {item.rows} filas, {item.names} nombres"
