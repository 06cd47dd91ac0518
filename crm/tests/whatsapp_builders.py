"""Builders for the WhatsApp tray tests: synthetic customers who land in a given tier."""

import datetime
from decimal import Decimal

from crm.services.retention import due_back
from crm.services.summaries import refresh_customers
from ventas.models import Cliente, ServiceHistory

TODAY = datetime.date(2026, 11, 25)


def phone(index: int) -> str:
    return f"+5699{index:07d}"


def overdue_customers(count: int, *, today=TODAY, start: int = 0, refresh: bool = True) -> list[Cliente]:
    """`count` customers with Tinas every 30 days, the last one 100 days before `today` (overdue), each with a
    valid mobile. Rebuilds the due-back table unless `refresh` is False."""
    clientes = Cliente.objects.bulk_create(
        [
            Cliente(
                nombre=f"Cliente Bandeja {start + index}",
                email=f"bandeja{start + index}@example.org",
                telefono=phone(start + index),
                busqueda=f"cliente bandeja {start + index}",
            )
            for index in range(count)
        ]
    )
    rows = []
    for cliente in clientes:
        for step in range(4):
            day = today - datetime.timedelta(days=100 + 30 * step)
            rows.append(
                ServiceHistory(
                    cliente=cliente,
                    service_date=day,
                    price_paid=Decimal(30_000),
                    service_type="Tinas",
                    service_name="Tina Calbuco",
                    year=day.year,
                    season="",
                )
            )
    ServiceHistory.objects.bulk_create(rows)
    refresh_customers([cliente.pk for cliente in clientes])  # bulk_create sends no signals: as the importer does
    if refresh:
        due_back.refresh(today)
    return clientes


def overdue_customer(nombre: str = "Valentina Prueba", *, telefono: str = "+56991234567", today=TODAY) -> Cliente:
    cliente = overdue_customers(1, today=today, refresh=False)[0]
    Cliente.objects.filter(pk=cliente.pk).update(nombre=nombre, telefono=telefono)
    due_back.refresh(today)
    cliente.refresh_from_db()
    return cliente
