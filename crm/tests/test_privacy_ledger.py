"""Consent ledger, access log and rectification log (Ley 21.719)."""

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.models import AccessLog, DataRequest
from crm.services import mail
from crm.services.privacy.access_log import purge_access_log
from crm.services.privacy.consent import consent_overview, record_consent, record_import_consent
from crm.services.privacy.requests import PrivacyError
from crm.tests.builders import make_cliente
from ventas.models import ConsentEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def cliente():
    return make_cliente("Rosa Prueba Ledger", email="rosa.ledger@example.org", telefono="+56911112222")


def test_unsubscribe_link_records_one_consent_event(client, cliente):
    url = reverse("crm_baja", args=[mail.unsubscribe_token(cliente.pk)])

    client.post(url)
    client.post(url)  # a second click changes nothing

    events = list(ConsentEvent.objects.filter(cliente=cliente))
    assert len(events) == 1
    assert (events[0].channel, events[0].granted, events[0].source) == ("email", False, "link")
    assert events[0].text == ConsentEvent.UNSUBSCRIBE_TEXT
    cliente.refresh_from_db()
    assert cliente.acepta_marketing is False


def test_rfc8058_one_click_is_recorded_as_one_click(client, cliente):
    url = reverse("crm_baja", args=[mail.unsubscribe_token(cliente.pk)])

    client.post(url, data="List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded")

    assert ConsentEvent.objects.get(cliente=cliente).source == "one_click"


def test_staff_grant_and_withdraw_update_acepta_marketing_and_the_ledger(cliente, staff_user):
    record_consent(cliente=cliente, channel="email", granted=False, source="staff", user=staff_user)
    cliente.refresh_from_db()
    assert cliente.acepta_marketing is False and cliente.fecha_baja is not None

    record_consent(cliente=cliente, channel="email", granted=True, source="staff", user=staff_user)
    cliente.refresh_from_db()
    assert cliente.acepta_marketing is True and cliente.fecha_baja is None

    events = list(ConsentEvent.objects.filter(cliente=cliente).order_by("id"))
    assert [event.granted for event in events] == [False, True]
    assert all(event.created_by == staff_user and event.version for event in events)


def test_recording_the_current_state_again_adds_nothing(cliente):
    assert record_consent(cliente=cliente, channel="email", granted=True, source="staff") is None
    record_consent(cliente=cliente, channel="whatsapp", granted=True, source="staff")
    assert record_consent(cliente=cliente, channel="whatsapp", granted=True, source="staff") is None
    assert ConsentEvent.objects.filter(cliente=cliente).count() == 1


def test_unknown_channel_is_refused_in_spanish(cliente):
    with pytest.raises(PrivacyError, match="Canal desconocido"):
        record_consent(cliente=cliente, channel="fax", granted=True, source="staff")


def test_consent_events_cannot_be_changed_or_deleted(cliente):
    event = record_consent(cliente=cliente, channel="whatsapp", granted=True, source="staff")
    event.granted = False
    with pytest.raises(ValueError):
        event.save()
    with pytest.raises(ValueError):
        event.delete()


def test_overview_shows_state_per_channel(cliente):
    record_consent(cliente=cliente, channel="whatsapp", granted=False, source="staff")
    overview = consent_overview(cliente)
    states = {state.channel: state.granted for state in overview.states}
    assert states == {"email": True, "whatsapp": False}
    assert len(overview.events) == 1


def test_consent_admin_is_read_only(admin_client, cliente):
    event = record_consent(cliente=cliente, channel="whatsapp", granted=True, source="staff")
    assert admin_client.get(reverse("admin:ventas_consentevent_changelist")).status_code == 200
    assert admin_client.get(reverse("admin:ventas_consentevent_add")).status_code == 403
    assert admin_client.post(reverse("admin:ventas_consentevent_delete", args=[event.pk])).status_code == 403
    admin_client.post(reverse("admin:ventas_consentevent_change", args=[event.pk]), {"granted": ""})
    event.refresh_from_db()
    assert event.granted is True


@pytest.mark.parametrize(
    ("url_name", "action"),
    [("cliente_detalle", "perfil"), ("historial_servicios", "historial"), ("propuesta_preview", "preview")],
)
def test_opening_a_customer_page_logs_who_and_what(staff_client, staff_user, cliente, url_name, action):
    assert staff_client.get(reverse(url_name, args=[cliente.pk])).status_code == 200
    entry = AccessLog.objects.get()
    assert (entry.user_id, entry.cliente_id, entry.action) == (staff_user.pk, cliente.pk, action)


def test_unknown_customer_is_not_logged(staff_client):
    assert staff_client.get(reverse("cliente_detalle", args=[999_999])).status_code == 404
    assert not AccessLog.objects.exists()


def test_purge_keeps_entries_inside_the_retention(cliente, settings):
    settings.ACCESS_LOG_RETENTION_DAYS = 30
    old, recent = AccessLog.objects.bulk_create(
        [AccessLog(cliente_id=cliente.pk, action="perfil"), AccessLog(cliente_id=cliente.pk, action="perfil")]
    )
    AccessLog.objects.filter(pk=old.pk).update(created_at=timezone.now() - datetime.timedelta(days=31))

    assert purge_access_log() == 1
    assert list(AccessLog.objects.values_list("pk", flat=True)) == [recent.pk]


def test_purge_task_runs_the_purge(cliente, settings):
    from crm.tasks import purge_access_log_task

    settings.ACCESS_LOG_RETENTION_DAYS = 1
    entry = AccessLog.objects.create(cliente_id=cliente.pk, action="perfil")
    AccessLog.objects.filter(pk=entry.pk).update(created_at=timezone.now() - datetime.timedelta(days=2))
    assert purge_access_log_task.enqueue().return_value == 1


def test_access_log_admin_needs_the_view_permission_and_is_read_only(admin_client, client, marketing_user, cliente):
    AccessLog.objects.create(cliente_id=cliente.pk, action="perfil")
    assert admin_client.get(reverse("admin:crm_accesslog_changelist"), {"action": "perfil"}).status_code == 200
    assert admin_client.get(reverse("admin:crm_accesslog_add")).status_code == 403
    client.force_login(marketing_user)  # Marketing has no access-log permission
    assert client.get(reverse("admin:crm_accesslog_changelist")).status_code == 403


def test_editing_a_customer_in_the_admin_logs_a_rectification(admin_client, admin_user, cliente):
    url = reverse("admin:ventas_cliente_change", args=[cliente.pk])
    form = {
        "nombre": cliente.nombre,
        "email": "rosa.nueva@example.org",
        "telefono": cliente.telefono,
        "documento_identidad": "",
        "pais": "Chile",
        "ciudad": "Puerto Varas",
        "acepta_marketing": "on",
    }
    response = admin_client.post(url, form)
    assert response.status_code == 302, response.content.decode()[:2000]

    request = DataRequest.objects.get(cliente=cliente)
    assert request.kind == "rectificacion" and request.status == "atendida"
    assert request.handled_by == admin_user
    assert "Email" in request.outcome and "rosa.nueva" not in request.outcome
    assert request.due_on == request.received_on + datetime.timedelta(days=30)


def test_import_consent_is_one_bulk_insert(cliente, django_assert_num_queries):
    other = make_cliente("Otra Importada Prueba", email="otra.importada@example.org")
    with django_assert_num_queries(1):
        assert record_import_consent([cliente.pk, other.pk], granted=True, text="Ficha de reserva", version="v1") == 2
    assert set(ConsentEvent.objects.values_list("source", flat=True)) == {"import"}
