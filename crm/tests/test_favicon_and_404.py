"""Every page links the favicon (served, no 404), and in DEBUG an unknown page is the project's Spanish 404."""

import pytest
from django.contrib.staticfiles import finders
from django.test import Client, override_settings
from django.urls import reverse

from crm.services import mail
from crm.tests.builders import make_cliente

NOT_FOUND_MIDDLEWARE = "aremko.middleware.SpanishNotFoundMiddleware"


def test_the_favicon_exists_as_a_static_file():
    path = finders.find("favicon.svg")

    assert path
    with open(path, encoding="utf-8") as handle:
        assert handle.read().startswith("<svg")


@pytest.mark.django_db
@pytest.mark.parametrize("page", ["crm_dashboard", "login", "admin:index", "baja"])
def test_pages_link_the_favicon(staff_client, admin_client, page):
    anonymous = Client()
    if page == "baja":
        response = anonymous.get(reverse("crm_baja", args=[mail.unsubscribe_token(make_cliente().pk)]))
    elif page == "login":
        response = anonymous.get(reverse("login"))
    elif page == "admin:index":
        response = admin_client.get(reverse(page))
    else:
        response = staff_client.get(reverse(page))

    assert response.status_code == 200
    assert 'rel="icon"' in response.content.decode()
    assert "favicon.svg" in response.content.decode()


def _with_middleware(settings):
    settings.DEBUG = True
    if NOT_FOUND_MIDDLEWARE not in settings.MIDDLEWARE:
        settings.MIDDLEWARE = [*settings.MIDDLEWARE, NOT_FOUND_MIDDLEWARE]


@pytest.mark.django_db
def test_in_debug_an_unknown_url_is_the_spanish_404(staff_client, settings):
    _with_middleware(settings)

    response = staff_client.get("/no-existe-esta-pagina/")

    body = response.content.decode()
    assert response.status_code == 404
    assert "No encontramos lo que buscas" in body
    assert "DEBUG = True" not in body


@pytest.mark.django_db
def test_in_debug_a_missing_customer_is_the_spanish_404(staff_client, settings):
    _with_middleware(settings)

    response = staff_client.get(reverse("cliente_detalle", args=[999_999]))

    assert response.status_code == 404
    assert "No encontramos lo que buscas" in response.content.decode()


@pytest.mark.django_db
def test_json_404s_are_left_alone(staff_client, settings):
    _with_middleware(settings)

    response = staff_client.get(reverse("crm_campana_progreso", args=[999_999]))

    assert response.status_code == 404
    assert response.json()["error"] == "La campaña no existe."


@override_settings(DEBUG=False)
@pytest.mark.django_db
def test_without_debug_the_404_is_already_the_spanish_page(staff_client):
    response = staff_client.get("/no-existe-esta-pagina/")

    assert response.status_code == 404
    assert "No encontramos lo que buscas" in response.content.decode()
