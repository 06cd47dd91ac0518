"""Find the customer of an imported row without a query per row.

All customers' normalised emails, phones and names are loaded once into dictionaries (about 100 bytes per
customer: fine for the ~100k customers Aremko has); customers created during the import are added as they go.
"""

import re
from dataclasses import dataclass, field
from functools import lru_cache

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
    name_key: str = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "name_key", cached_search_key(self.name))

    @classmethod
    def from_cells(cls, name, email, phone) -> "Identity":
        return cls(name=clean_name(name), email=normalize_email(email), phone=normalize_phone(str(phone or "")))

    @property
    def natural_key(self) -> str:
        return f"{self.email}|{self.phone or ''}|{self.name_key}"

    def is_empty(self) -> bool:
        return not (self.email or self.phone or self.name_key)


class CustomerIndex:
    """Customer lookup by normalised email, then phone, then name.

    A name match is only accepted when the row's email and phone do not contradict the customer's: two different
    "Juan Pérez" with different emails stay two customers.
    """

    def __init__(self):
        self.by_email: dict[str, int] = {}
        self.by_phone: dict[str, int] = {}
        # name key -> (id, email, phone) of the first customer with that name
        self.by_name: dict[str, tuple[int, str, str | None]] = {}

    @classmethod
    def load(cls) -> "CustomerIndex":
        index = cls()
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
            self.by_name.setdefault(identity.name_key, (pk, identity.email, identity.phone))

    def match(self, identity: Identity) -> int | None:
        if identity.email and identity.email in self.by_email:
            return self.by_email[identity.email]
        if identity.phone and identity.phone in self.by_phone:
            return self.by_phone[identity.phone]
        candidate = self.by_name.get(identity.name_key) if identity.name_key else None
        if candidate:
            pk, email, phone = candidate
            if (not identity.email or not email or identity.email == email) and (
                not identity.phone or not phone or identity.phone == phone
            ):
                return pk
        return None

    def phone_taken(self, phone: str | None) -> bool:
        return bool(phone) and phone in self.by_phone

    def new_customer(self, identity: Identity) -> Cliente:
        """An unsaved Cliente with the fields `Cliente.save()` would normalise (bulk_create skips save())."""
        nombre = identity.name or identity.email or identity.phone or "Sin nombre"
        cliente = Cliente(nombre=nombre, email=identity.email, telefono=identity.phone)
        cliente.busqueda = Cliente.search_text(cliente.nombre, cliente.email)
        return cliente
