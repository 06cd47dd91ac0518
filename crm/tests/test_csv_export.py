"""CSV downloads open in a Chilean-locale spreadsheet: UTF-8 with BOM, `;` by default, `?sep=,` for comma."""

import datetime

import pytest
from django.urls import reverse

from crm.services.csv_export import csv_decimal
from crm.services.retention import due_back
from crm.tests.builders import add_history, make_cliente

pytestmark = pytest.mark.django_db


@pytest.fixture
def cliente():
    cliente = make_cliente("Hilda Exportación")
    add_history(
        cliente,
        service_date=datetime.date(2025, 3, 1),
        price=40_000,
        service_type="Cabañas",
        service_name="Cabaña Ñandú",
    )
    add_history(
        cliente, service_date=datetime.date(2025, 4, 1), price=20_000, service_type="Tinas", service_name="Tina A"
    )
    due_back.refresh()
    return cliente


def history(staff_client, cliente, **params):
    return staff_client.get(reverse("historial_servicios", args=[cliente.pk]), {"formato": "csv", **params})


def test_history_csv_is_utf8_with_bom_and_semicolons_by_default(staff_client, cliente):
    response = history(staff_client, cliente)

    assert response.content.startswith(b"\xef\xbb\xbf")
    lines = response.content.decode("utf-8-sig").splitlines()
    assert lines[0] == "fecha;categoria;servicio;cantidad;precio_pagado;reserva;temporada"
    assert any(line.startswith("01-03-2025;Cabañas;Cabaña Ñandú;1;40000;") for line in lines)


def test_history_csv_with_comma_separator(staff_client, cliente):
    response = history(staff_client, cliente, sep=",")

    assert response.content.startswith(b"\xef\xbb\xbf")
    assert response.content.decode("utf-8-sig").splitlines()[0].startswith("fecha,categoria,servicio,")


def test_an_unknown_separator_is_a_400_in_spanish(staff_client, cliente):
    response = history(staff_client, cliente, sep="|")

    assert response.status_code == 400
    assert "El separador del CSV" in response.content.decode()


def test_retention_csv_uses_semicolons_and_decimal_commas(staff_client, cliente):
    response = staff_client.get(reverse("crm_retencion"), {"csv": "recompra"})

    text = response.content.decode("utf-8")
    assert text.startswith("\ufeffcategoria;clientes;repitieron;tasa")
    rows = [line.split(";") for line in text.lstrip("\ufeff").splitlines()[1:]]
    assert rows and all("," in row[3] and "." not in row[3] for row in rows)


def test_retention_csv_with_comma_separator_uses_decimal_points(staff_client, cliente):
    response = staff_client.get(reverse("crm_retencion"), {"csv": "recompra", "sep": ","})

    text = response.content.decode("utf-8-sig")
    assert text.startswith("categoria,clientes,repitieron,tasa")
    rows = text.splitlines()[1:]
    assert rows and all("." in row.rsplit(",", 1)[1] for row in rows)


def test_retention_csv_refuses_an_unknown_separator(staff_client, cliente):
    response = staff_client.get(reverse("crm_retencion"), {"csv": "recompra", "sep": "tab"})

    assert response.status_code == 400
    assert "El separador del CSV" in response.content.decode()


def test_csv_decimal_follows_the_separator():
    assert csv_decimal(0.25) == "0,2500"
    assert csv_decimal(0.25, ",") == "0.2500"
