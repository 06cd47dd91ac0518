"""The tray page /ventas/crm/bandeja/ and its outcome endpoint."""

import datetime
import re
from html import unescape
from urllib.parse import unquote

import pytest
from django.urls import reverse

from crm.models import AccessLog, TrayItem
from crm.services.whatsapp import build_tray, record_outcome
from crm.services.whatsapp.messages import STOP_LINE
from crm.tests.whatsapp_builders import TODAY, overdue_customer, overdue_customers
from ventas.models import ConsentEvent

pytestmark = pytest.mark.django_db

URL = "/ventas/crm/bandeja/"
MAX_QUERIES = 12


@pytest.fixture(autouse=True)
def no_holdout(settings):
    settings.WHATSAPP_HOLDOUT_SHARE = 0.0


def page_of(client, day=TODAY, **params):
    return client.get(URL, {"fecha": day.isoformat(), **params})


def test_urls_are_the_ones_in_the_issue():
    assert reverse("crm_bandeja") == URL
    assert reverse("crm_bandeja_resultado", args=[7]) == "/ventas/crm/bandeja/7/resultado/"


def test_each_row_holds_its_wa_me_link_and_its_outcome_form(staff_client):
    cliente = overdue_customer("Valentina Prueba", telefono="+56991234567")
    build_tray(TODAY, size=50)
    item = TrayItem.objects.get()
    html = page_of(staff_client).content.decode()
    row = re.search(rf'<li class="tray-item" id="item-{item.pk}">(.*?)</li>', html, re.S).group(1)
    href = unescape(re.search(r'href="(https://wa\.me/[^"]+)"', row).group(1))
    assert href.startswith("https://wa.me/56991234567?text=")
    assert unquote(href.split("?text=", 1)[1]) == item.message
    assert 'target="_blank"' in row
    assert f'action="/ventas/crm/bandeja/{item.pk}/resultado/"' in row
    for value in ("enviado", "respondió_interesado", "reservó", "más_adelante", "no_contactar", "número_equivocado"):
        assert f'name="resultado" value="{value}"' in row
    assert "Suele venir a Tinas cada ~30 días; su última visita fue hace 100 días" in row
    assert cliente.nombre in row
    assert STOP_LINE in row


def test_the_tier_rule_is_written_on_the_page(staff_client):
    overdue_customer()
    build_tray(TODAY, size=50)
    html = page_of(staff_client).content.decode()
    assert "Atrasados según su ritmo" in html
    assert "Más de un 25 % sobre su intervalo habitual" in html
    assert "Un 0,0\u00a0% de cada prioridad queda como grupo de control" in html


def test_holdout_customers_are_never_shown(staff_client, settings):
    settings.WHATSAPP_HOLDOUT_SHARE = 0.5
    overdue_customers(20)
    build_tray(TODAY, size=50)
    html = page_of(staff_client).content.decode()
    held = TrayItem.objects.filter(holdout=True)
    assert held.exists()
    for item in held:
        assert f'id="item-{item.pk}"' not in html
    for item in TrayItem.objects.filter(holdout=False):
        assert f'id="item-{item.pk}"' in html


def test_who_saw_whom_on_the_tray_goes_to_the_access_log(staff_client, staff_user, settings):
    settings.WHATSAPP_HOLDOUT_SHARE = 0.5
    overdue_customers(20)
    build_tray(TODAY, size=50)
    page_of(staff_client)
    shown = set(TrayItem.objects.filter(holdout=False).values_list("cliente_id", flat=True))
    logged = AccessLog.objects.filter(action=AccessLog.Action.TRAY, user=staff_user)
    assert set(logged.values_list("cliente_id", flat=True)) == shown
    assert logged.count() == len(shown)  # one row per customer shown, none for the control group
    item = TrayItem.objects.filter(holdout=False).first()
    staff_client.get(f"{URL}{item.pk}/abrir/", {"mensaje": "Hola"})
    assert logged.filter(cliente_id=item.cliente_id).count() == 2


def test_another_days_tray_with_fecha(staff_client):
    overdue_customer()
    build_tray(TODAY - datetime.timedelta(days=3), size=50)
    html = page_of(staff_client, TODAY - datetime.timedelta(days=3)).content.decode()
    assert "22-11-2026" in html and "tray-item" in html
    assert "No hay bandeja para el 25-11-2026" in page_of(staff_client).content.decode()


def test_a_bad_date_is_a_400_in_spanish(staff_client):
    response = staff_client.get(URL, {"fecha": "mañana"})
    assert response.status_code == 400
    assert "Escribe la fecha" in response.content.decode()


@pytest.mark.parametrize("customers", [1, 50])
def test_page_query_count_is_bounded(staff_client, django_assert_max_num_queries, customers):
    overdue_customers(customers)
    build_tray(TODAY, size=50)
    item = TrayItem.objects.first()
    record_outcome(item_id=item.pk, outcome="enviado")
    with django_assert_max_num_queries(MAX_QUERIES) as captured:
        response = page_of(staff_client)
    assert response.content.decode().count('class="tray-item') == customers
    print(f"tray page, {customers} customers: {len(captured)} queries")


def test_posting_an_outcome_records_it_and_returns_to_the_row(staff_client, staff_user):
    overdue_customer()
    build_tray(TODAY, size=50)
    item = TrayItem.objects.get()
    response = staff_client.post(f"{URL}{item.pk}/resultado/", {"resultado": "no_contactar"})
    assert response.status_code == 302
    assert response["Location"] == f"{URL}?fecha={TODAY.isoformat()}#item-{item.pk}"
    item.refresh_from_db()
    assert item.outcome == "no_contactar" and item.operator == staff_user
    assert ConsentEvent.objects.filter(cliente=item.cliente, channel="whatsapp", granted=False).exists()


def test_posting_an_unknown_outcome_is_a_400_in_spanish(staff_client):
    overdue_customer()
    build_tray(TODAY, size=50)
    item = TrayItem.objects.get()
    response = staff_client.post(f"{URL}{item.pk}/resultado/", {"resultado": "tal vez"})
    assert response.status_code == 400
    assert "Resultado desconocido" in response.content.decode()
    assert staff_client.post(f"{URL}999999/resultado/", {"resultado": "enviado"}).status_code == 400


def test_outcomes_need_post(staff_client):
    assert staff_client.get(f"{URL}1/resultado/").status_code == 405


def test_the_edited_message_opens_without_javascript(staff_client):
    overdue_customer(telefono="+56991234567")
    build_tray(TODAY, size=50)
    item = TrayItem.objects.get()
    response = staff_client.get(f"{URL}{item.pk}/abrir/", {"mensaje": "Hola, ¿cómo está? & saludos"})
    assert response.status_code == 302
    assert response["Location"].startswith("https://wa.me/56991234567?text=")
    assert unquote(response["Location"].split("?text=")[1]) == "Hola, ¿cómo está? & saludos"
    assert staff_client.get(f"{URL}{item.pk}/abrir/", {"mensaje": ""}).status_code == 400


def test_anonymous_users_go_to_login_and_non_staff_are_refused(client, django_user_model):
    assert client.get(URL).status_code == 302
    django_user_model.objects.create_user(username="cliente", password="x")
    client.login(username="cliente", password="x")
    assert client.get(URL).status_code == 403
    assert client.post(f"{URL}1/resultado/", {"resultado": "enviado"}).status_code == 403


def test_the_page_has_no_inline_script_and_loads_its_static_js(staff_client):
    html = page_of(staff_client).content.decode()
    assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html) is None
    assert "crm/bandeja.js" in html
