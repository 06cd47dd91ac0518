"""Optional sending through the WhatsApp Business Cloud API, against a fake server on loopback."""

import pytest

from crm.models import PlantillaWhatsApp, TrayItem
from crm.services.whatsapp import WhatsAppError, build_tray, cloud_api
from crm.services.whatsapp.messages import STOP_LINE
from crm.tests.fake_http import fake_server_fixture  # noqa: F401 (HTTP server on loopback)
from crm.tests.whatsapp_builders import TODAY, overdue_customer

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(settings, fake_server):
    settings.WHATSAPP_HOLDOUT_SHARE = 0.0
    settings.WHATSAPP_BACKEND = "cloud_api"
    settings.WHATSAPP_CLOUD_URL = fake_server.url + "/v21.0"
    settings.WHATSAPP_CLOUD_TOKEN = "token-de-prueba"
    settings.WHATSAPP_CLOUD_PHONE_ID = "1234567890"
    settings.WHATSAPP_CLOUD_TIMEOUT = 2
    PlantillaWhatsApp.objects.all().delete()
    PlantillaWhatsApp.objects.create(
        nombre="Aprobada", tier="overdue", texto="Hola {nombre}, código {codigo}.", meta_template="retencion_v1"
    )
    overdue_customer(telefono="+56991234567")
    build_tray(TODAY, size=50)
    return fake_server


def test_an_approved_message_goes_out_as_the_meta_template_and_counts_as_sent(api, staff_user):
    api.reply(200, {"messaging_product": "whatsapp", "messages": [{"id": "wamid.PRUEBA1"}]})
    item = TrayItem.objects.get()
    cloud_api.approve_and_send(item_id=item.pk, user=staff_user)
    (request,) = api.requests
    assert request.path == "/v21.0/1234567890/messages"
    assert request.headers["authorization"] == "Bearer token-de-prueba"
    assert request.body["to"] == "56991234567"
    assert request.body["template"]["name"] == "retencion_v1"
    body = request.body["template"]["components"][0]["parameters"][0]["text"]
    assert body == item.message and body.endswith(STOP_LINE + ".")
    item.refresh_from_db()
    assert (item.api_status, item.api_message_id) == ("sent", "wamid.PRUEBA1")
    assert item.outcome == "enviado" and item.operator == staff_user and item.contacted_at is not None


def test_the_operator_edit_is_what_is_sent_with_the_stop_line(api, staff_user):
    api.reply(200, {"messages": [{"id": "wamid.2"}]})
    item = TrayItem.objects.get()
    cloud_api.approve_and_send(item_id=item.pk, user=staff_user, message="Hola, le escribimos de Aremko.")
    sent = api.requests[0].body["template"]["components"][0]["parameters"][0]["text"]
    assert sent == f"Hola, le escribimos de Aremko.\n\n{STOP_LINE}."


def test_an_api_error_is_recorded_and_the_message_can_be_retried(api, staff_user):
    api.reply(400, {"error": {"message": "Template name does not exist"}})
    item = TrayItem.objects.get()
    with pytest.raises(cloud_api.CloudApiError, match="rechazó el mensaje"):
        cloud_api.approve_and_send(item_id=item.pk, user=staff_user)
    item.refresh_from_db()
    assert item.api_status == "failed" and "Template name" in item.api_error
    assert item.outcome == "" and item.contacted_at is None
    api.reply(200, {"messages": [{"id": "wamid.3"}]})
    cloud_api.approve_and_send(item_id=item.pk, user=staff_user)
    assert TrayItem.objects.get(pk=item.pk).api_status == "sent"


def test_a_slow_api_times_out_as_a_failure(api, settings):
    settings.WHATSAPP_CLOUD_TIMEOUT = 0.3
    api.reply(200, {"messages": [{"id": "late"}]}, delay=1.0)
    item = TrayItem.objects.get()
    with pytest.raises(cloud_api.CloudApiError, match="no respondió a tiempo"):
        cloud_api.approve_and_send(item_id=item.pk)
    assert TrayItem.objects.get(pk=item.pk).api_status == "failed"


def test_a_message_is_never_sent_twice(api):
    api.reply(200, {"messages": [{"id": "wamid.4"}]})
    item = TrayItem.objects.get()
    cloud_api.approve_and_send(item_id=item.pk)
    with pytest.raises(WhatsAppError, match="ya se envió"):
        cloud_api.approve_and_send(item_id=item.pk)
    assert len(api.requests) == 1


def test_nothing_is_sent_when_the_backend_is_click_to_chat(api, settings):
    settings.WHATSAPP_BACKEND = "click_to_chat"
    with pytest.raises(WhatsAppError, match="no está activado"):
        cloud_api.approve_and_send(item_id=TrayItem.objects.get().pk)
    assert api.requests == []


def test_a_template_not_approved_in_meta_cannot_go_through_the_api(api):
    PlantillaWhatsApp.objects.update(meta_template="")
    with pytest.raises(WhatsAppError, match="no está aprobada en Meta"):
        cloud_api.approve_and_send(item_id=TrayItem.objects.get().pk)
    assert api.requests == []


def test_the_page_offers_approval_only_with_the_api(api, staff_client, settings):
    api.reply(200, {"messages": [{"id": "wamid.5"}]})
    item = TrayItem.objects.get()
    url = f"/ventas/crm/bandeja/?fecha={TODAY.isoformat()}"
    assert "Aprobar y enviar por API" in staff_client.get(url).content.decode()
    response = staff_client.post(f"/ventas/crm/bandeja/{item.pk}/enviar/", {"mensaje": item.message})
    assert response.status_code == 302
    assert TrayItem.objects.get(pk=item.pk).api_status == "sent"
    settings.WHATSAPP_BACKEND = "click_to_chat"
    assert "Aprobar y enviar por API" not in staff_client.get(url).content.decode()
    assert staff_client.post(f"/ventas/crm/bandeja/{item.pk}/enviar/").status_code == 400
