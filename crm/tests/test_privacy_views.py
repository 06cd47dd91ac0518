"""The rights console on the profile: export, erasure, block/objection, consent, explanation; permissions,
hostile input (4xx with a Spanish message) and the profile's query budget."""

import io
import json
import zipfile

import pytest
from django.contrib.auth.models import Permission
from django.core.cache import cache
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from crm.models import AccessLog, Campaign, CampaignRecipient, DataRequest, Proposal
from crm.services.campaigns import CampaignOptions, audience, preview
from crm.services.privacy.consent import record_consent
from crm.services.privacy.restriction import set_restriction
from crm.services.proposals import ProfilingRestricted, generate_proposal
from crm.tests.builders import add_history, customer_with, make_cliente, many_customers
from crm.tests.proposal_fixtures import catalogue_fixture  # noqa: F401 (the `catalogue` fixture)
from ventas.models import Cliente, ConsentEvent

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clean_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def rights_user(staff_user):
    staff_user.user_permissions.add(Permission.objects.get(codename="change_datarequest"))
    return staff_user


@pytest.fixture
def rights_client(client, rights_user):
    client.force_login(rights_user)
    return client


@pytest.fixture
def cliente():
    cliente = customer_with(
        services=6, spent=600_000, last_days_ago=20, nombre="Marta Exportable Diaz", as_of=timezone.localdate()
    )
    Cliente.objects.filter(pk=cliente.pk).update(email="marta.exportable@example.org", telefono="+56933334444")
    cliente.refresh_from_db()
    return cliente


def url(name, cliente):
    return reverse(name, args=[cliente.pk])


# --- Export --------------------------------------------------------------------------------------------------


def test_export_button_downloads_a_zip_with_json_and_csv_and_logs_it(rights_client, rights_user, cliente, catalogue):
    record_consent(cliente=cliente, channel="whatsapp", granted=True, source="staff")
    generate_proposal(cliente=cliente, backend="local")

    response = rights_client.post(url("privacidad_exportar", cliente), {"tipo": "portabilidad"})

    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="datos-cliente-{cliente.pk}.zip"'
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    names = set(archive.namelist())
    assert {"datos.json", "cliente.csv", "historial.csv", "propuestas.csv", "consentimientos.csv"} <= names
    data = json.loads(archive.read("datos.json"))
    assert data["cliente"]["email"] == "marta.exportable@example.org"
    assert len(data["historial"]) == 6
    assert data["segmento"]["puntajes"] == {"R": 3, "F": 2, "M": 2}
    assert "RFM" in data["segmento"]["como_se_calcula"]
    assert len(data["propuestas"]) == 1 and data["propuestas"][0]["email_text"]
    assert [event["channel"] for event in data["consentimientos"]] == ["whatsapp"]
    history_csv = archive.read("historial.csv").decode("utf-8-sig").splitlines()
    assert len(history_csv) == 7
    request = DataRequest.objects.get(cliente=cliente)
    assert (request.kind, request.status, request.handled_by) == ("portabilidad", "atendida", rights_user)
    assert AccessLog.objects.filter(cliente_id=cliente.pk, action="exportacion").count() == 1


def test_export_query_count_does_not_grow_with_history(cliente, django_assert_max_num_queries):
    from crm.services.privacy.export import write_customer_export

    for index in range(60):
        add_history(cliente, service_date=cliente.created_at.date().replace(year=2025), price=1000 + index)
    with django_assert_max_num_queries(9):
        write_customer_export(cliente_id=cliente.pk, out=io.BytesIO())


def test_export_command_writes_the_zip_and_logs_an_access_request(cliente, tmp_path):
    out = tmp_path / "datos.zip"
    call_command("customer_export", str(cliente.pk), "--out", str(out))

    assert "datos.json" in zipfile.ZipFile(out).namelist()
    assert DataRequest.objects.get(cliente=cliente).kind == "acceso"


def test_export_command_unknown_customer_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match="No existe el cliente 424242"):
        call_command("customer_export", "424242", "--out", str(tmp_path / "x.zip"))
    assert not (tmp_path / "x.zip").exists()


# --- Permissions and hostile input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("privacidad_exportar", {"tipo": "acceso"}),
        ("privacidad_eliminar", {"confirmar": "1"}),
        ("privacidad_restriccion", {"tipo": "bloqueo", "accion": "activar"}),
    ],
)
def test_rights_actions_need_the_rights_permission(client, marketing_user, cliente, name, data):
    client.force_login(marketing_user)  # every role below Administración
    response = client.post(url(name, cliente), data)
    assert response.status_code == 403
    cliente.refresh_from_db()
    assert cliente.email and not cliente.bloqueo_desde
    assert not DataRequest.objects.exists()


def test_anonymous_users_are_sent_to_login(client, cliente):
    response = client.post(url("privacidad_consentimiento", cliente), {"canal": "email", "accion": "retirar"})
    assert response.status_code == 302 and "login" in response["Location"]


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("privacidad_exportar", {"tipo": "todo"}, "Tipo de solicitud no válido"),
        ("privacidad_exportar", {}, "acceso o portabilidad"),
        ("privacidad_restriccion", {"tipo": "bloqueo", "accion": "\x00"}, "Acción no válida"),
        ("privacidad_restriccion", {"tipo": "x" * 5000, "accion": "activar"}, "bloqueo u oposición"),
        ("privacidad_consentimiento", {"canal": "fax", "accion": "otorgar"}, "Canal desconocido"),
        ("privacidad_consentimiento", {"canal": "email", "accion": "borrar"}, "Acción no válida"),
        ("privacidad_eliminar", {"confirmar": ""}, "no se puede deshacer"),
    ],
)
def test_hostile_input_gets_a_400_in_spanish(rights_client, cliente, name, data, message):
    response = rights_client.post(url(name, cliente), data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not DataRequest.objects.exists()


@pytest.mark.parametrize(
    "name",
    ["privacidad_exportar", "privacidad_eliminar", "privacidad_restriccion", "privacidad_consentimiento"],
)
def test_unknown_customer_is_a_spanish_404(rights_client, name):
    response = rights_client.post(reverse(name, args=[987654]), {})
    assert response.status_code == 404


def test_huge_customer_id_is_a_404_not_a_500(rights_client):
    response = rights_client.get(reverse("privacidad_explicacion", args=[99999999999999999999]))
    assert response.status_code == 404


@pytest.mark.parametrize("name", ["privacidad_exportar", "privacidad_restriccion", "privacidad_consentimiento"])
def test_get_on_post_only_actions_is_405(rights_client, cliente, name):
    assert rights_client.get(url(name, cliente)).status_code == 405


# --- Erasure button ------------------------------------------------------------------------------------------


def test_erase_asks_for_confirmation_then_anonymises(rights_client, cliente):
    page = rights_client.get(url("privacidad_eliminar", cliente))
    assert page.status_code == 200 and "No se puede deshacer" in page.content.decode()

    response = rights_client.post(url("privacidad_eliminar", cliente), {"confirmar": "1"})

    assert response.status_code == 302
    cliente.refresh_from_db()
    assert cliente.nombre == f"Cliente eliminado #{cliente.pk}" and cliente.email == ""
    again = rights_client.post(url("privacidad_eliminar", cliente), {"confirmar": "1"})
    assert again.status_code == 409 and "ya fue eliminado" in again.content.decode()


# --- Block and objection -------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["bloqueo", "oposicion"])
def test_a_restricted_customer_gets_no_proposal_a_409_in_spanish(rights_client, cliente, kind):
    rights_client.post(url("privacidad_restriccion", cliente), {"tipo": kind, "accion": "activar"})

    response = rights_client.post(url("generar_propuesta", cliente), HTTP_ACCEPT="application/json")

    assert response.status_code == 409
    assert "perfilamiento" in response.json()["error"]
    assert not Proposal.objects.exists()
    request = DataRequest.objects.get(cliente=cliente)
    assert request.kind == kind and request.status == "atendida"


def test_the_engine_is_never_called_for_a_restricted_customer(cliente):
    set_restriction(cliente_id=cliente.pk, kind="oposicion", active=True)
    cliente.refresh_from_db()

    class Exploding:
        name = "anthropic"

        def generate(self, request):
            raise AssertionError("the AI backend saw a restricted customer")

    with pytest.raises(ProfilingRestricted):
        generate_proposal(cliente=cliente, backend=Exploding())


def test_campaign_audience_excludes_restricted_customers(cliente):
    other = customer_with(
        services=6, spent=600_000, last_days_ago=25, nombre="Otro Cliente Campana", as_of=timezone.localdate()
    )
    options = CampaignOptions(segment="champions")
    assert set(audience(options).values_list("pk", flat=True)) == {cliente.pk, other.pk}

    set_restriction(cliente_id=cliente.pk, kind="bloqueo", active=True)

    assert list(audience(options).values_list("pk", flat=True)) == [other.pk]
    assert preview(options).total == 1


def test_blocking_withdraws_unsent_proposals_and_campaign_rows(cliente, catalogue):
    proposal = generate_proposal(cliente=cliente, backend="local")
    campaign = Campaign.objects.create(segment="champions")
    row = CampaignRecipient.objects.create(campaign=campaign, cliente=cliente, proposal=proposal, status="generated")

    set_restriction(cliente_id=cliente.pk, kind="bloqueo", active=True)

    proposal.refresh_from_db()
    row.refresh_from_db()
    assert proposal.status == Proposal.Status.DISCARDED
    assert row.status == CampaignRecipient.Status.DROPPED


def test_lifting_a_block_allows_proposals_again_and_is_logged(rights_client, cliente, catalogue):
    rights_client.post(url("privacidad_restriccion", cliente), {"tipo": "bloqueo", "accion": "activar"})
    rights_client.post(url("privacidad_restriccion", cliente), {"tipo": "bloqueo", "accion": "levantar"})

    cliente.refresh_from_db()
    assert cliente.bloqueo_desde is None
    assert generate_proposal(cliente=cliente, backend="local").pk
    assert DataRequest.objects.filter(cliente=cliente, kind="bloqueo").count() == 2


def test_lifting_what_is_not_in_force_is_a_409(rights_client, cliente):
    response = rights_client.post(url("privacidad_restriccion", cliente), {"tipo": "oposicion", "accion": "levantar"})
    assert response.status_code == 409
    assert "No hay oposición al perfilamiento vigente" in response.content.decode()


def test_search_shows_a_badge_for_restricted_customers(staff_client, cliente):
    set_restriction(cliente_id=cliente.pk, kind="oposicion", active=True)
    response = staff_client.get(reverse("crm_buscar"), {"q": "Marta Exportable"})
    assert "Sin perfilamiento" in response.content.decode()


# --- Consent on the profile ----------------------------------------------------------------------------------


def test_staff_record_a_withdrawal_from_the_profile(staff_client, staff_user, cliente):
    response = staff_client.post(url("privacidad_consentimiento", cliente), {"canal": "email", "accion": "retirar"})

    assert response.status_code == 302
    cliente.refresh_from_db()
    assert cliente.acepta_marketing is False
    event = ConsentEvent.objects.get(cliente=cliente)
    assert (event.source, event.granted, event.created_by) == ("staff", False, staff_user)
    page = staff_client.get(url("cliente_detalle", cliente)).content.decode()
    assert "Historial de consentimiento (1)" in page
    assert "Personal de Aremko" in page


# --- Explanation (art. 8 bis) ---------------------------------------------------------------------------------


def test_explanation_page_says_why_in_plain_spanish(staff_client, cliente, settings, catalogue):
    proposal = generate_proposal(cliente=cliente, backend="local")

    response = staff_client.get(url("privacidad_explicacion", cliente))

    page = response.content.decode()
    assert response.status_code == 200
    assert "Recencia R3: su último servicio con fecha conocida fue el" in page
    assert f"R3 si fue hace {settings.RFM_RECENCY_DAYS[0]} días o menos" in page
    assert "Frecuencia F2: tiene 6 servicios registrados" in page
    assert "Monto M2: gastó $600.000 en total" in page
    assert "queda en el segmento «Campeones»" in page
    assert proposal.recommendations[0]["reason"] in page
    assert AccessLog.objects.filter(cliente_id=cliente.pk, action="explicacion").exists()


def test_explanation_of_a_customer_without_history(staff_client):
    nuevo = make_cliente("Nuevo Sin Historia")
    page = staff_client.get(url("privacidad_explicacion", nuevo)).content.decode()
    assert "Todavía no tiene servicios registrados" in page
    assert "Todavía no se le ha generado ninguna propuesta" in page


# --- The profile's query budget ------------------------------------------------------------------------------


@pytest.mark.parametrize("customers", [1, 50])
def test_profile_with_the_privacy_panel_stays_within_12_queries(rights_client, customers):
    top = many_customers(customers, services_each=12)[0]
    record_consent(cliente=top, channel="whatsapp", granted=True, source="staff")
    with CaptureQueriesContext(connection) as queries:
        response = rights_client.get(reverse("cliente_detalle", args=[top.pk]))
    assert response.status_code == 200
    assert "Descargar datos (ZIP)" in response.content.decode()
    assert len(queries) <= 12, [query["sql"][:120] for query in queries]


# --- Admin lists -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["admin:crm_accesslog_changelist", "admin:crm_datarequest_changelist"])
@pytest.mark.parametrize("query", [{"q": "abc"}, {"q": "\x00"}, {"q": "99999999999999999999"}, {"action": "x"}])
def test_admin_lists_take_hostile_search_without_a_500(admin_client, cliente, name, query):
    set_restriction(cliente_id=cliente.pk, kind="bloqueo", active=True)
    AccessLog.objects.create(cliente_id=cliente.pk, action="perfil")
    assert admin_client.get(reverse(name), query).status_code < 500


def test_data_request_admin_computes_the_due_date_and_cannot_delete(admin_client, cliente):
    response = admin_client.post(
        reverse("admin:crm_datarequest_add"),
        {"cliente": cliente.pk, "kind": "acceso", "received_on": "2026-12-02", "status": "recibida", "outcome": ""},
    )
    assert response.status_code == 302
    request = DataRequest.objects.get()
    assert str(request.due_on) == "2027-01-01"
    assert admin_client.post(reverse("admin:crm_datarequest_delete", args=[request.pk])).status_code == 403
