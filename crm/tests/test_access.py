import pytest
from django.test import Client
from django.urls import reverse

from aremko.pytest_plugin import STAFF_PASSWORD
from crm.roles import ROLES
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


def test_logged_in_users_without_a_role_get_the_spanish_403_page(client, django_user_model, page_urls):
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


# --- One access rule for every CRM view ----------------------------------------------------------------------

PUBLIC_VIEWS = {"crm_baja"}  # the unsubscribe link: its signed token is the authorization


def crm_patterns():
    from crm import urls

    return [pattern for pattern in urls.urlpatterns if pattern.name not in PUBLIC_VIEWS]


def url_for(pattern) -> str:
    return reverse(pattern.name, kwargs={name: 1 for name in pattern.pattern.converters})


ROLE_PERMISSIONS = {perm for perms in ROLES.values() for perm in perms}


def test_every_crm_view_declares_its_permission():
    for pattern in crm_patterns():
        permission = getattr(pattern.callback, "crm_permission", None)
        assert permission in ROLE_PERMISSIONS, pattern.name


def test_every_crm_view_refuses_a_logged_in_user_without_its_permission(client, roleless_staff_user):
    client.force_login(roleless_staff_user)
    for pattern in crm_patterns():
        url = url_for(pattern)
        statuses = {client.get(url).status_code, client.post(url).status_code}
        # 405 for the method the view does not take; the other one must be refused before the view runs.
        assert statuses <= {403, 405} and 403 in statuses, (pattern.name, statuses)


def test_every_crm_view_sends_anonymous_visitors_to_login_or_answers_401_in_json(client):
    for pattern in crm_patterns():
        url = url_for(pattern)
        page = {client.get(url).status_code, client.post(url).status_code} - {405}
        as_json = {
            client.get(url, HTTP_ACCEPT="application/json").status_code,
            client.post(url, HTTP_ACCEPT="application/json").status_code,
        } - {405}
        assert page == {302}, (pattern.name, page)
        assert as_json == {401}, (pattern.name, as_json)


def test_json_refusals_are_json_in_spanish(client, roleless_staff_user):
    cliente = make_cliente("Ana Json")
    url = reverse("generar_propuesta", args=[cliente.pk])

    anonymous = client.post(url, HTTP_ACCEPT="application/json")
    client.force_login(roleless_staff_user)
    forbidden = client.post(url, HTTP_ACCEPT="application/json")

    assert anonymous.status_code == 401 and "sesión expiró" in anonymous.json()["error"]
    assert forbidden.status_code == 403 and "permiso" in forbidden.json()["error"]


def test_superusers_pass_every_permission(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("raiz", password="clave-segura-123"))

    assert client.get(reverse("crm_campanas")).status_code == 200
    assert client.get(reverse("crm_propuestas")).status_code == 200


def test_a_send_form_with_a_relative_next_goes_to_the_dashboard_not_a_500(staff_client):
    cliente = make_cliente("Ana Next")

    response = staff_client.post(
        reverse("crm_enviar_propuesta", args=[cliente.pk]), {"proposal_id": "²", "next": "abc"}
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("crm_dashboard")


# --- Sessions (aremko/sessions.py) ------------------------------------------------------------------------------


def test_a_session_is_read_in_one_query_and_ends_when_it_expires_or_is_flushed(staff_user, django_assert_num_queries):
    import datetime

    from django.contrib.sessions.models import Session
    from django.utils import timezone

    from aremko.sessions import SessionStore

    client = Client()
    assert client.post("/accounts/login/", {"username": "staff", "password": STAFF_PASSWORD}).status_code == 302
    key = client.cookies["sessionid"].value
    with django_assert_num_queries(1):
        assert SessionStore(key).load()["_auth_user_id"] == str(staff_user.pk)
    assert client.get(reverse("crm_dashboard")).status_code == 200

    store = SessionStore("x" * 32)  # well formed, never stored
    assert store.load() == {} and store.session_key is None
    Session.objects.filter(session_key=key).update(expire_date=timezone.now() - datetime.timedelta(seconds=1))
    assert SessionStore(key).load() == {}
    assert client.get(reverse("crm_dashboard")).status_code == 302  # to the login page

    assert client.post("/accounts/login/", {"username": "staff", "password": STAFF_PASSWORD}).status_code == 302
    assert client.get(reverse("crm_dashboard")).status_code == 200
    client.post(reverse("logout"))
    assert client.get(reverse("crm_dashboard")).status_code == 302


# --- Login throttling ----------------------------------------------------------------------------------------


def fail_login(client, url, username, times):
    return [client.post(url, {"username": username, "password": "equivocada"}).status_code for _ in range(times)]


@pytest.mark.parametrize("login_url", ["/accounts/login/", "/admin/login/"])
def test_login_locks_after_the_failure_limit_even_with_the_right_password(client, staff_user, settings, login_url):
    limit = settings.AXES_FAILURE_LIMIT
    assert limit <= 10

    statuses = fail_login(client, login_url, "staff", limit)
    locked = client.post(login_url, {"username": "staff", "password": STAFF_PASSWORD})

    assert statuses[: limit - 1] == [200] * (limit - 1)  # the form again, with its error
    assert locked.status_code == 429
    assert "Acceso bloqueado temporalmente" in locked.content.decode()
    assert int(locked["Retry-After"]) == settings.AXES_COOLOFF_TIME.total_seconds()
    assert "_auth_user_id" not in client.session


def test_the_lock_is_shared_by_every_worker_through_the_database(staff_user, settings):
    """Two Client instances stand for two gunicorn workers: the failures of one lock the other out."""
    first, second = Client(), Client()
    limit = settings.AXES_FAILURE_LIMIT
    fail_login(first, "/accounts/login/", "staff", limit - 1)
    fail_login(second, "/accounts/login/", "staff", 1)

    response = second.post("/accounts/login/", {"username": "staff", "password": STAFF_PASSWORD})

    assert response.status_code == 429


def test_the_lock_is_per_username_and_address(client, staff_user, django_user_model, settings):
    django_user_model.objects.create_user("otra", password=STAFF_PASSWORD, is_staff=True)
    fail_login(client, "/accounts/login/", "staff", settings.AXES_FAILURE_LIMIT)

    other_user = client.post("/accounts/login/", {"username": "otra", "password": STAFF_PASSWORD})
    other_address = Client(REMOTE_ADDR="10.0.0.7").post(
        "/accounts/login/", {"username": "staff", "password": STAFF_PASSWORD}
    )

    assert other_user.status_code == 302
    assert other_address.status_code == 302


def test_a_successful_login_clears_earlier_failures(client, staff_user, settings):
    fail_login(client, "/accounts/login/", "staff", settings.AXES_FAILURE_LIMIT - 1)
    assert client.post("/accounts/login/", {"username": "staff", "password": STAFF_PASSWORD}).status_code == 302
    client.logout()

    statuses = fail_login(client, "/accounts/login/", "staff", settings.AXES_FAILURE_LIMIT - 1)

    assert set(statuses) == {200}
    assert client.post("/accounts/login/", {"username": "staff", "password": STAFF_PASSWORD}).status_code == 302


def test_one_json_or_html_rule_json_only_when_asked(staff_client):
    url = reverse("generar_propuesta", args=[999_999])

    as_json = staff_client.post(url, HTTP_ACCEPT="application/json")
    as_page = staff_client.post(url, HTTP_ACCEPT="text/html")
    no_header = staff_client.post(url)

    assert as_json.status_code == 404 and as_json.json()["error"] == "El cliente no existe."
    assert as_page.status_code == no_header.status_code == 404
    assert "No encontramos lo que buscas" in as_page.content.decode()
