import pytest
from django.urls import reverse

from aremko.pytest_plugin import STAFF_PASSWORD

pytestmark = pytest.mark.django_db


def test_root_redirects_to_the_crm(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == reverse("crm_dashboard")


def test_login_page_is_in_spanish(client):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    assert "Iniciar sesión" in response.content.decode()


def test_anonymous_users_are_sent_to_login(client):
    response = client.get(reverse("crm_dashboard"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_login_with_good_credentials_opens_the_crm(client, staff_user):
    response = client.post(reverse("login"), {"username": "staff", "password": STAFF_PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == reverse("crm_dashboard")
