import datetime
from io import StringIO

import pytest
from django.core.management import call_command

from crm.models import Proposal
from ventas.models import CategoriaServicio, Cliente, ServiceHistory, Servicio

pytestmark = pytest.mark.django_db


def test_bench_proposals_prints_the_median_and_stores_nothing():
    tinas = CategoriaServicio.objects.create(nombre="Tinas")
    for nombre in ("Tina Calbuco", "Tina Osorno", "Hidromasaje Llaima"):
        Servicio.objects.create(nombre=nombre, categoria=tinas, precio_base=25000)
    cliente = Cliente.objects.create(nombre="Cliente Prueba")
    Cliente.objects.create(nombre="Cliente Nuevo")
    ServiceHistory.objects.create(
        cliente=cliente, service_type="Tinas", service_name="Tina Calbuco",
        service_date=datetime.date(2025, 7, 1), price_paid=50000,
    )  # fmt: skip
    out = StringIO()
    call_command("bench_proposals", customers=10, stdout=out)
    assert "mediana:" in out.getvalue()
    assert "modelo de recomendación: motor-predeterminado" in out.getvalue()
    assert not Proposal.objects.exists()
