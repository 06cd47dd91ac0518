"""Find the customer of an imported row without a query per row.

All customers' normalised emails, phones and names are loaded once into dictionaries (about 100 bytes per
customer: fine for the ~100k customers Aremko has); customers created during the import are added as they go.

Contacts that identify nobody (junk, the house's own, shared in the file: see contacts.py) are removed from the
row's identity before matching (`Identity.without`), and a customer's own contact that is shared in the file
is neither matched through nor taken as contradicting a row (`CustomerIndex.ignored`).
"""

import re
from dataclasses import dataclass, field, replace
from functools import lru_cache

from ventas.importing.contacts import is_junk_email, is_junk_phone
from ventas.models import Cliente
from ventas.normalize import normalize_phone, search_key

# Names repeat a lot in an export (one line per service): normalise each distinct one once.
cached_search_key = lru_cache(maxsize=65_536)(search_key)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def normalize_email(raw) -> str:
    """Lower-case email, or "" when the cell does not hold one."""
    email = str(raw or "").strip().lower()
    return email if len(email) <= 254 and _EMAIL.match(email) else ""


def clean_name(raw) -> str:
    """Single-spaced name; ALL CAPS or all lower-case names become Title Case."""
    name = " ".join(str(raw or "").split())
    if name and (name.isupper() or name.islower()):
        name = name.title()
    return name[:200]


@dataclass(frozen=True)
class Identity:
    """The customer as a row describes them, normalised."""

    name: str
    email: str
    phone: str | None
    # The row's identity as the cells wrote it, for the natural key of history lines: computed before contacts
    # are dropped, so keys stored by earlier imports are still found (re-attribution, see services.py).
    raw_key: str = field(default="", repr=False, compare=False)
    name_key: str = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "name_key", cached_search_key(self.name))

    @classmethod
    def from_cells(cls, name, email, phone) -> "Identity":
        return cls(name=clean_name(name), email=normalize_email(email), phone=normalize_phone(str(phone or "")))

    @property
    def natural_key(self) -> str:
        return self.raw_key or f"{self.email}|{self.phone or ''}|{self.name_key}"

    def without(self, ignored: frozenset[str] | set[str]) -> "Identity":
        """The identity without junk contacts and without those in `ignored` (house and shared contacts)."""
        email = "" if not self.email or self.email in ignored or is_junk_email(self.email) else self.email
        phone = None if not self.phone or self.phone in ignored or is_junk_phone(self.phone) else self.phone
        if email == self.email and phone == self.phone:
            return self
        return replace(self, email=email, phone=phone, raw_key=self.natural_key)

    def name_only(self) -> "Identity":
        return replace(self, email="", phone=None, raw_key=self.natural_key)

    def is_empty(self) -> bool:
        return not (self.email or self.phone or self.name_key)


# `CustomerIndex.match` answers this when several customers share the row's name and nothing tells them apart.
AMBIGUOUS = -1


class CustomerIndex:
    """Customer lookup by normalised email, then phone, then name.

    A name match is only accepted when the row's email and phone do not contradict the customer's: two different
    "Juan Pérez" with different emails stay two customers. When several customers with the row's name are
    compatible with it, the name is ambiguous: `match` returns `AMBIGUOUS` and the caller rejects the row rather
    than guess. Contacts in `ignored` (shared in the file, house contacts) are never matched through and never
    contradict a row.
    """

    def __init__(self, ignored: frozenset[str] = frozenset()):
        self.by_email: dict[str, int] = {}
        self.by_phone: dict[str, int] = {}
        # name key -> (id, email, phone) of each customer with that name (a list only for repeated names)
        self.by_name: dict[str, tuple[int, str, str | None] | list[tuple[int, str, str | None]]] = {}
        self.ignored = ignored
        # name key -> the customer holding that name alone (no email or phone), where ambiguous lines go
        self.bare: dict[str, int] = {}

    @classmethod
    def load(cls, ignored: frozenset[str] = frozenset()) -> "CustomerIndex":
        index = cls(ignored)
        rows = Cliente.objects.order_by("id").values_list("id", "nombre", "email", "telefono")
        for pk, nombre, email, telefono in rows.iterator(chunk_size=10_000):
            # Rows written outside Cliente.save() (legacy data) may hold unnormalised values.
            index.add(pk, Identity(name=nombre, email=(email or "").strip().lower(), phone=normalize_phone(telefono)))
        return index

    def add(self, pk: int, identity: Identity) -> None:
        if identity.email:
            self.by_email.setdefault(identity.email, pk)
        if identity.phone:
            self.by_phone.setdefault(identity.phone, pk)
        if identity.name_key:
            if (not identity.email or identity.email in self.ignored) and (
                not identity.phone or identity.phone in self.ignored
            ):
                self.bare.setdefault(identity.name_key, pk)
            entry = (pk, identity.email, identity.phone)
            current = self.by_name.get(identity.name_key)
            if current is None:
                self.by_name[identity.name_key] = entry
            elif isinstance(current, list):
                current.append(entry)
            elif current[0] != pk:
                self.by_name[identity.name_key] = [current, entry]

    def _agrees(self, identity: Identity, email: str, phone: str | None) -> bool:
        ignored = self.ignored
        email = "" if email in ignored else email
        phone = None if phone in ignored else phone
        return (not identity.email or not email or identity.email == email) and (
            not identity.phone or not phone or identity.phone == phone
        )

    def match(self, identity: Identity) -> int | None:
        """The customer's id, None when nobody matches, `AMBIGUOUS` when several could."""
        if identity.email and identity.email in self.by_email and identity.email not in self.ignored:
            return self.by_email[identity.email]
        if identity.phone and identity.phone in self.by_phone and identity.phone not in self.ignored:
            return self.by_phone[identity.phone]
        candidates = self.by_name.get(identity.name_key) if identity.name_key else None
        if candidates is None:
            return None
        if isinstance(candidates, tuple):
            return candidates[0] if self._agrees(identity, candidates[1], candidates[2]) else None
        agreeing = {pk for pk, email, phone in candidates if self._agrees(identity, email, phone)}
        if len(agreeing) > 1:
            return AMBIGUOUS
        return agreeing.pop() if agreeing else None

    def phone_taken(self, phone: str | None) -> bool:
        return bool(phone) and phone in self.by_phone

    def new_customer(self, identity: Identity) -> Cliente:
        """An unsaved Cliente with the fields `Cliente.save()` would normalise (bulk_create skips save())."""
        nombre = identity.name or identity.email or identity.phone or "Sin nombre"
        cliente = Cliente(nombre=nombre, email=identity.email, telefono=identity.phone)
        cliente.busqueda = Cliente.search_text(cliente.nombre, cliente.email)
        return cliente
