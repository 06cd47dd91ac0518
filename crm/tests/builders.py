"""Tiny builders for CRM page tests: synthetic customers with exactly the history a test needs."""

import datetime
from decimal import Decimal

from crm.services.summaries import refresh_customers
from ventas.models import Cliente, ServiceHistory

AS_OF = datetime.date(2026, 6, 30)


def make_cliente(nombre="Cliente Prueba", **fields) -> Cliente:
    fields.setdefault("email", f"{nombre.split()[0].lower()}@example.org")
    return Cliente.objects.create(nombre=nombre, **fields)


def add_history(cliente, *, service_date, price=10_000, service_type="Tinas", service_name="Tina Calbuco", **fields):
    row = ServiceHistory(
        cliente=cliente,
        service_date=service_date,
        price_paid=Decimal(price),
        service_type=service_type,
        service_name=service_name,
        **fields,
    )
    row.save()
    return row


def customer_with(*, services: int, spent: int, last_days_ago: int | None, as_of=AS_OF, nombre="Cliente RFM"):
    """A customer with `services` history rows totalling `spent` CLP, the latest `last_days_ago` days before as_of.

    `last_days_ago=None` puts every row on the legacy placeholder date (unknown dates).
    """
    from django.conf import settings

    cliente = make_cliente(nombre)
    rows = []
    for index in range(services):
        if last_days_ago is None:
            day = settings.HISTORY_PLACEHOLDER_DATE
        else:
            day = as_of - datetime.timedelta(days=last_days_ago + index * 7)
        price = spent - (spent // services) * (services - 1) if index == 0 else spent // services
        rows.append(
            ServiceHistory(
                cliente=cliente,
                service_date=day,
                price_paid=Decimal(price),
                service_type="Tinas",
                service_name="Tina Calbuco",
                year=day.year,
            )
        )
    ServiceHistory.objects.bulk_create(rows)  # bulk_create sends no signals: refresh as the importer does
    refresh_customers([cliente.pk])
    return cliente


def many_customers(count: int, *, services_each: int = 3, today=None) -> list[Cliente]:
    """`count` customers named "Cliente Masivo N" with a few recent services each (for query-bound tests)."""
    from django.utils import timezone

    today = today or timezone.localdate()
    clientes = Cliente.objects.bulk_create(
        [
            Cliente(
                nombre=f"Cliente Masivo {index}",
                email=f"masivo{index}@example.org",
                telefono=f"+5691{index:07d}",
                busqueda=Cliente.search_text(f"Cliente Masivo {index}", f"masivo{index}@example.org"),
            )
            for index in range(count)
        ]
    )
    categories = ["Tinas", "Masajes", "Cabañas"]
    ServiceHistory.objects.bulk_create(
        [
            ServiceHistory(
                cliente=cliente,
                service_date=today - datetime.timedelta(days=30 * step + index % 7),
                price_paid=Decimal(25_000 + 1_000 * step),
                service_type=categories[step % 3],
                service_name=f"Servicio {step}",
            )
            for index, cliente in enumerate(clientes)
            for step in range(services_each)
        ]
    )
    refresh_customers([cliente.pk for cliente in clientes])
    return clientes


def make_service(nombre="Tina Calbuco", *, categoria="Tinas", precio=25_000, activo=True):
    """An active catalogue service: proposals are only made when one can be recommended."""
    from ventas.models import CategoriaServicio, Servicio

    category, _ = CategoriaServicio.objects.get_or_create(nombre=categoria)
    service, _ = Servicio.objects.get_or_create(
        nombre=nombre, defaults={"categoria": category, "precio_base": precio, "activo": activo}
    )
    return service
