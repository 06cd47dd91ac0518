"""The public unsubscribe page: GET asks, POST (also RFC 8058 one-click, without CSRF token) records the opt-out."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from crm.services import mail
from crm.tests.builders import make_cliente
from crm.tests.mailtools import make_proposal


@pytest.fixture
def cliente(db):
    return make_cliente("Camila Fuentes", email="camila@example.org")


def baja_url(cliente):
    return reverse("crm_baja", args=[mail.unsubscribe_token(cliente.pk)])


def test_get_shows_a_confirm_button_and_does_not_unsubscribe(client, cliente):
    response = client.get(baja_url(cliente))

    assert response.status_code == 200
    assert "Sí, darme de baja" in response.content.decode()
    cliente.refresh_from_db()
    assert cliente.acepta_marketing is True
    assert cliente.fecha_baja is None


@pytest.mark.django_db
def test_rfc8058_one_click_post_without_csrf_token_records_the_opt_out(cliente):
    csrf_client = Client(enforce_csrf_checks=True)

    response = csrf_client.post(
        baja_url(cliente), data="List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )

    assert response.status_code == 200
    assert "no le enviaremos más propuestas" in response.content.decode()
    cliente.refresh_from_db()
    assert cliente.acepta_marketing is False
    assert cliente.fecha_baja is not None


def test_second_unsubscribe_keeps_the_first_date(client, cliente):
    client.post(baja_url(cliente))
    cliente.refresh_from_db()
    first = cliente.fecha_baja

    client.post(baja_url(cliente))

    cliente.refresh_from_db()
    assert cliente.fecha_baja == first


def test_page_of_an_opted_out_customer_says_so_without_a_button(client, cliente):
    cliente.unsubscribe()

    body = client.get(baja_url(cliente)).content.decode()

    assert "Usted ya no recibe propuestas" in body
    assert "Sí, darme de baja" not in body


@pytest.mark.parametrize("method", ["get", "post"])
def test_forged_token_is_refused_with_400_and_changes_nothing(client, cliente, method):
    forged = reverse("crm_baja", args=[f"{cliente.pk}:firma-inventada"])

    response = getattr(client, method)(forged)

    assert response.status_code == 400
    assert "no es válido" in response.content.decode()
    cliente.refresh_from_db()
    assert cliente.acepta_marketing is True


def test_link_in_a_received_email_unsubscribes_the_customer(smtp_server, client, cliente):
    mail.send_proposal(proposal=make_proposal(cliente))
    [message] = smtp_server.messages
    text = message.get_body(preferencelist=("plain",)).get_content()
    url = re.search(r"https://crm\.example\.com(/ventas/crm/baja/\S+/)", text).group(1)

    client.post(url)

    cliente.refresh_from_db()
    assert cliente.acepta_marketing is False


def test_unsubscribe_page_needs_no_login_and_sets_no_inline_script(client, cliente):
    response = client.get(baja_url(cliente))

    assert response.status_code == 200
    assert "<script>" not in response.content.decode()
    assert "style=" not in response.content.decode()
