import pytest
from django.urls import reverse

from crm.tests.builders import make_cliente

pytestmark = pytest.mark.django_db


@pytest.fixture
def page_urls():
    cliente = make_cliente("Ana Acceso")
    return [
        reverse("crm_dashboard"),
        reverse("crm_buscar") + "?q=ana",
        reverse("cliente_detalle", args=[cliente.pk]),
        reverse("historial_servicios", args=[cliente.pk]),
        reverse("historial_servicios", args=[cliente.pk]) + "?formato=csv",
    ]


def test_crm_urls_keep_the_legacy_paths():
    assert reverse("crm_dashboard") == "/ventas/crm/"
    assert reverse("crm_buscar") == "/ventas/crm/buscar/"
    assert reverse("cliente_detalle", args=[7]) == "/ventas/crm/cliente/7/"
    assert reverse("historial_servicios", args=[7]) == "/ventas/crm/cliente/7/historial/"


def test_anonymous_users_are_sent_to_login(client, page_urls):
    for url in page_urls:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("login") + "?next=")


def test_logged_in_non_staff_get_the_spanish_403_page(client, django_user_model, page_urls):
    user = django_user_model.objects.create_user(username="cliente", password="clave-segura-123")
    client.force_login(user)
    for url in page_urls:
        response = client.get(url)
        assert response.status_code == 403, url
        assert "Acceso denegado" in response.content.decode()


def test_staff_can_open_every_page(staff_client, page_urls):
    for url in page_urls:
        assert staff_client.get(url).status_code == 200, url


def test_navigation_links_dashboard_search_admin_and_logout(staff_client):
    html = staff_client.get(reverse("crm_dashboard")).content.decode()
    assert f'href="{reverse("crm_buscar")}"' in html
    assert f'href="{reverse("admin:index")}"' in html
    assert f'action="{reverse("logout")}"' in html
    assert 'aria-current="page">Dashboard' in html


def test_pages_have_no_inline_scripts_or_styles(staff_client, page_urls):
    for url in page_urls[:4]:
        html = staff_client.get(url).content.decode()
        assert "<script>" not in html, url
        assert "style=" not in html, url
        assert " onclick=" not in html, url
