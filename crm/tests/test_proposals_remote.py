"""The legacy proposal server through the real httpx client, against a fake contract server on loopback."""

import datetime

import pytest

from crm.models import Proposal
from crm.services.proposals import (
    ProposalBackendError,
    ProposalConfigurationError,
    ProposalTimeout,
    generate_proposal,
)
from crm.services.proposals.remote import ProposalServerClient, RemoteBackend
from crm.tests.fake_http import fake_server_fixture  # noqa: F401
from crm.tests.proposal_fixtures import AS_OF, catalogue_fixture, cliente, community_fixture, visit  # noqa: F401
from ventas.models import Servicio

pytestmark = pytest.mark.django_db


@pytest.fixture
def customer(community):
    person = cliente("Rayén Quilodrán")
    visit(person, AS_OF - datetime.timedelta(days=20), "Tina Calbuco")
    return person


def server_proposal(**overrides):
    proposal = {
        "customer_profile": {"name": "Rayén Quilodrán"},
        "insights": ["Cliente prometedor.", "Una visita reciente.", "Le gustan las tinas."],
        "recommendations": [
            {"service_name": "Masaje Relajación", "reason": "Combina con su tina", "confidence": 0.7},
            {
                "service_id": Servicio.objects.get(nombre="Cabaña Torre").pk,
                "reason": "Para quedarse",
                "confidence": 0.5,
                "estimated_price": 1,
            },
        ],
        "offer": {"title": "Vuelva pronto", "description": "Un masaje para su próxima visita.", "discount": 10},
        "email_subject": "Rayén, vuelva a Aremko",
        "email_body": "<html><head><style>p{color:red}</style></head><body><p>Le esperamos.</p></body></html>",
        "model": "legacy-gpt",
    }
    proposal.update(overrides)
    return {"success": True, "proposal": proposal}


def remote(fake_server, **options):
    client = ProposalServerClient(base_url=fake_server.url, api_key="clave-remota", tenant="aremko", **options)
    return RemoteBackend(client=client)


def test_a_good_answer_is_validated_and_stored(fake_server, customer):
    fake_server.reply(200, server_proposal())

    proposal = generate_proposal(cliente=customer, backend=remote(fake_server), as_of=AS_OF)

    assert proposal.backend == "remote"
    assert proposal.model == "legacy-gpt"
    assert [item["service_name"] for item in proposal.recommendations] == ["Masaje Relajación", "Cabaña Torre"]
    assert proposal.recommendations[1]["estimated_price"] == 120_000  # the catalogue's, not the server's
    assert proposal.insights["behaviour"] == "Una visita reciente."
    assert "<p>Le esperamos.</p>" in proposal.email_body
    assert "color:red" not in proposal.email_body


def test_requests_follow_the_contract(fake_server, customer):
    fake_server.reply(200, server_proposal())

    generate_proposal(cliente=customer, backend=remote(fake_server), as_of=AS_OF)

    (request,) = fake_server.requests
    assert request.method == "GET"
    assert request.path == f"/proposals/customer/{customer.pk}"
    assert request.headers["x-api-key"] == "clave-remota"
    assert request.headers["x-tenant"] == "aremko"


def test_send_batch_and_health_use_their_endpoints(fake_server):
    fake_server.always(200, {"success": True})
    client = ProposalServerClient(base_url=fake_server.url + "/", api_key="clave-remota", tenant="aremko")

    client.send(42)
    client.batch(segment="at_risk", limit=25)
    client.health()

    assert [(r.method, r.path) for r in fake_server.requests] == [
        ("POST", "/proposals/send/42"),
        ("POST", "/proposals/batch?segment=at_risk&limit=25"),
        ("GET", "/health"),
    ]


def test_batch_gets_a_longer_timeout(fake_server):
    fake_server.always(200, {"success": True}, delay=0.5)
    client = ProposalServerClient(
        base_url=fake_server.url, api_key="clave-remota", tenant="aremko", timeout=0.2, batch_timeout=2
    )

    assert client.batch(segment="vip", limit=5) == {"success": True}
    with pytest.raises(ProposalTimeout):
        client.health()


@pytest.mark.parametrize("missing", ["api_key", "base_url"])
def test_missing_configuration_is_a_clear_error(missing):
    options = {"base_url": "http://127.0.0.1:9", "api_key": "clave", "tenant": "aremko", missing: ""}

    with pytest.raises(ProposalConfigurationError, match="PROPOSAL_SERVER_"):
        ProposalServerClient(**options)


def test_missing_api_key_from_settings_stores_nothing(customer, settings):
    settings.PROPOSAL_BACKEND = "remote"
    settings.PROPOSAL_SERVER_URL = "http://127.0.0.1:9"
    settings.PROPOSAL_SERVER_API_KEY = ""

    with pytest.raises(ProposalConfigurationError, match="PROPOSAL_SERVER_API_KEY"):
        generate_proposal(cliente=customer, as_of=AS_OF)
    assert not Proposal.objects.exists()


@pytest.mark.parametrize(
    ("make_reply", "message"),
    [
        pytest.param(lambda: {"raw": b"<html>Bad gateway"}, "JSON", id="not-json"),
        pytest.param(lambda: {"body": {"success": True, "proposal": {"insights": []}}}, "omitió", id="off-contract"),
        pytest.param(
            lambda: {
                "body": server_proposal(
                    recommendations=[
                        {"service_name": "Tina Antigua", "reason": "Inactiva", "confidence": 0.9},
                        {"service_name": "Tina Calbuco", "reason": "Favorita", "confidence": 0.5},
                    ]
                )
            },
            "catálogo activo",
            id="unknown-service",
        ),
        pytest.param(
            lambda: {
                "body": server_proposal(offer={"title": "Gran oferta", "description": "Casi gratis", "discount": 60})
            },
            "20%",
            id="discount-over-cap",
        ),
    ],
)
def test_invalid_answers_are_refused_and_nothing_is_stored(fake_server, customer, make_reply, message):
    fake_server.reply(200, **make_reply())

    with pytest.raises(ProposalBackendError, match=message) as error:
        generate_proposal(cliente=customer, backend=remote(fake_server), as_of=AS_OF)

    assert error.value.status_code == 502
    assert not Proposal.objects.exists()


def test_scripts_and_event_handlers_are_removed(fake_server, customer):
    html = '<p onmouseover="x()">Hola</p><script>document.cookie</script><img src="https://evil.example.com/p.gif">'
    fake_server.reply(200, server_proposal(email_body=html))

    proposal = generate_proposal(cliente=customer, backend=remote(fake_server), as_of=AS_OF)

    assert "<p>Hola</p>" in proposal.email_body
    for forbidden in ("<script", "document.cookie", "onmouseover", "evil.example.com"):
        assert forbidden not in proposal.email_body


def test_a_slow_server_is_a_timeout(fake_server, customer):
    fake_server.always(200, server_proposal(), delay=1)

    with pytest.raises(ProposalTimeout) as error:
        generate_proposal(cliente=customer, backend=remote(fake_server, timeout=0.2), as_of=AS_OF)

    assert error.value.status_code == 504
    assert not Proposal.objects.exists()


def test_a_server_error_is_a_backend_error(fake_server, customer):
    fake_server.reply(500, {"detail": "boom"})

    with pytest.raises(ProposalBackendError, match="500"):
        generate_proposal(cliente=customer, backend=remote(fake_server), as_of=AS_OF)
    assert not Proposal.objects.exists()


def test_an_unreachable_server_is_a_backend_error(customer):
    backend = RemoteBackend(client=ProposalServerClient(base_url="http://127.0.0.1:9", api_key="k", tenant="aremko"))

    with pytest.raises(ProposalBackendError, match="conectar"):
        generate_proposal(cliente=customer, backend=backend, as_of=AS_OF)
