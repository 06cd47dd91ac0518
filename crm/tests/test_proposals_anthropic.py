"""The Claude backend through the real anthropic SDK, against a fake Messages API on loopback."""

import datetime
from decimal import Decimal

import pytest

from crm.models import Proposal
from crm.services.proposals import (
    ProposalBackendError,
    ProposalConfigurationError,
    ProposalTimeout,
    generate_proposal,
)
from crm.services.proposals.anthropic_backend import PROMPT_VERSION, TOOL_NAME, AnthropicBackend
from crm.tests.fake_http import fake_server_fixture  # noqa: F401
from crm.tests.proposal_fixtures import AS_OF, catalogue_fixture, cliente, community_fixture, visit  # noqa: F401
from ventas.models import Servicio

pytestmark = pytest.mark.django_db


@pytest.fixture
def customer(community):
    person = cliente("Ignacia Fontecilla")
    person.telefono = "+56 9 8765 4321"
    person.documento_identidad = "11.111.111-1"
    person.save()
    visit(person, AS_OF - datetime.timedelta(days=20), "Tina Calbuco")
    return person


def service_id(nombre):
    return Servicio.objects.get(nombre=nombre).pk


def good_answer(**overrides):
    answer = {
        "insights": {
            "segment": "Cliente prometedor: vino hace poco por primera vez.",
            "behaviour": "Una visita reciente con tina caliente.",
            "preferences": "Disfruta las tinas; podría sumar un masaje.",
        },
        "recommendations": [
            {
                "service_id": service_id("Masaje Relajación"),
                "reason": "Quienes toman Tina Calbuco suelen sumar este masaje",
                "confidence": 0.72,
                "estimated_price": 1,  # never trusted: the catalogue's price is used
            },
            {"service_id": service_id("Tina Calbuco"), "reason": "Su tina favorita", "confidence": 0.64},
        ],
        "offer": {"title": "Su segunda experiencia", "description": "Vuelva y relájese con un masaje.", "discount": 15},
        "email_subject": "Ignacia, le esperamos de vuelta en Aremko",
        "email_html": "<p>Nos encantó recibirle en <strong>Aremko</strong>.</p>",
    }
    answer.update(overrides)
    return answer


def message(tool_input, *, stop_reason="tool_use"):
    return {
        "id": "msg_01",
        "type": "message",
        "role": "assistant",
        "model": "claude-haiku-4-5",
        "content": [{"type": "tool_use", "id": "toolu_01", "name": TOOL_NAME, "input": tool_input}],
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {"input_tokens": 1200, "output_tokens": 400},
    }


def api_key_sent(request):
    # SDK versions differ: `x-api-key` or `Authorization: Bearer`.
    return request.headers.get("x-api-key") or request.headers.get("authorization", "")


def claude(fake_server, **options):
    return AnthropicBackend(api_key="sk-test", model="claude-haiku-4-5", base_url=fake_server.url, **options)


def test_a_good_answer_is_stored_with_its_provenance(fake_server, customer):
    fake_server.reply(200, message(good_answer()))

    proposal = generate_proposal(cliente=customer, backend=claude(fake_server), as_of=AS_OF)

    assert proposal.backend == "anthropic"
    assert proposal.model == "claude-haiku-4-5"
    assert proposal.prompt_version == PROMPT_VERSION
    assert proposal.usage == {"input_tokens": 1200, "output_tokens": 400}
    assert proposal.cost_usd == Decimal("0.003200")
    assert [item["service_name"] for item in proposal.recommendations] == ["Masaje Relajación", "Tina Calbuco"]
    assert proposal.recommendations[0]["estimated_price"] == 40_000
    assert proposal.offer["discount"] == 15
    assert proposal.email_subject == "Ignacia, le esperamos de vuelta en Aremko"
    assert "Nos encantó recibirle en <strong>Aremko</strong>" in proposal.email_body
    assert "Nos encantó recibirle en Aremko." in proposal.email_text
    assert proposal.input_snapshot["candidates"]


def test_claude_must_answer_through_the_strict_tool_with_candidate_ids(fake_server, customer):
    fake_server.reply(200, message(good_answer()))

    generate_proposal(cliente=customer, backend=claude(fake_server), as_of=AS_OF)

    (request,) = fake_server.requests
    assert request.path == "/v1/messages"
    assert "sk-test" in api_key_sent(request)
    body = request.body
    (tool,) = body["tools"]
    assert tool["strict"] is True
    assert body["tool_choice"] == {"type": "tool", "name": TOOL_NAME}
    enum = tool["input_schema"]["properties"]["recommendations"]["items"]["properties"]["service_id"]["enum"]
    assert set(enum) == set(Servicio.objects.filter(activo=True).values_list("pk", flat=True))


def test_claude_never_sees_contact_data_or_the_id_number(fake_server, customer):
    fake_server.reply(200, message(good_answer()))

    generate_proposal(cliente=customer, backend=claude(fake_server), as_of=AS_OF)

    sent = str(fake_server.requests[0].body)
    for private in ("Ignacia", "Fontecilla", "ignacia@example.org", "87654321", "11111111"):
        assert private not in sent


def test_the_backend_is_configured_from_settings(fake_server, customer, settings):
    settings.PROPOSAL_BACKEND = "anthropic"
    settings.ANTHROPIC_API_KEY = "sk-from-settings"
    settings.ANTHROPIC_BASE_URL = fake_server.url
    fake_server.reply(200, message(good_answer()))

    proposal = generate_proposal(cliente=customer, as_of=AS_OF)

    assert proposal.backend == "anthropic"
    assert "sk-from-settings" in api_key_sent(fake_server.requests[0])


def test_a_missing_api_key_is_a_configuration_error(customer, settings):
    settings.PROPOSAL_BACKEND = "anthropic"
    settings.ANTHROPIC_API_KEY = ""

    with pytest.raises(ProposalConfigurationError, match="ANTHROPIC_API_KEY"):
        generate_proposal(cliente=customer, as_of=AS_OF)


def text_instead_of_tool():
    reply = message({})
    reply.update(content=[{"type": "text", "text": '{"recommendations": [}'}], stop_reason="end_turn")
    return {"body": reply}


@pytest.mark.parametrize(
    "make_reply",
    [
        pytest.param(lambda: {"raw": b'{"id": "msg_01", "content": [ not json'}, id="unparseable-body"),
        pytest.param(text_instead_of_tool, id="text-instead-of-tool"),
        pytest.param(lambda: {"body": message({"insights": "nada"})}, id="tool-input-off-schema"),
        pytest.param(lambda: {"body": message(good_answer(), stop_reason="max_tokens")}, id="truncated"),
    ],
)
def test_invalid_answers_are_refused_and_nothing_is_stored(fake_server, customer, make_reply):
    fake_server.reply(200, **make_reply())

    with pytest.raises(ProposalBackendError) as error:
        generate_proposal(cliente=customer, backend=claude(fake_server), as_of=AS_OF)

    assert not isinstance(error.value, ProposalTimeout)
    assert error.value.status_code == 502
    assert not Proposal.objects.exists()


def test_a_service_outside_the_candidates_is_refused(fake_server, customer):
    inactive = Servicio.objects.get(nombre="Tina Antigua").pk
    answer = good_answer()
    answer["recommendations"][1]["service_id"] = inactive
    fake_server.reply(200, message(answer))

    with pytest.raises(ProposalBackendError, match="catálogo activo"):
        generate_proposal(cliente=customer, backend=claude(fake_server), as_of=AS_OF)
    assert not Proposal.objects.exists()


def test_a_discount_over_the_cap_is_refused(fake_server, customer, settings):
    settings.PROPOSAL_MAX_DISCOUNT = 20
    fake_server.reply(200, message(good_answer(offer={"title": "Oferta", "description": "Mucho", "discount": 45})))

    with pytest.raises(ProposalBackendError, match="20%"):
        generate_proposal(cliente=customer, backend=claude(fake_server), as_of=AS_OF)
    assert not Proposal.objects.exists()


def test_too_long_reasons_are_refused(fake_server, customer):
    answer = good_answer()
    answer["recommendations"][0]["reason"] = "muy largo " * 20
    fake_server.reply(200, message(answer))

    with pytest.raises(ProposalBackendError):
        generate_proposal(cliente=customer, backend=claude(fake_server), as_of=AS_OF)


def test_scripts_handlers_and_external_images_are_removed_from_the_html(fake_server, customer):
    html = (
        '<p onclick="robar()">Hola<script>alert("x")</script></p>'
        '<img src="https://tracker.example.com/pixel.gif"><a href="javascript:alert(1)">ver</a>'
        '<a href="https://aremko.example.org/reservas">Reservar</a>'
    )
    fake_server.reply(200, message(good_answer(email_html=html)))

    proposal = generate_proposal(cliente=customer, backend=claude(fake_server), as_of=AS_OF)

    body = proposal.email_body.lower()
    assert "<script" not in body
    assert "alert" not in body
    assert "onclick" not in body
    assert "tracker.example.com" not in body
    assert "javascript:" not in body
    assert 'href="https://aremko.example.org/reservas"' in body


def test_a_slow_answer_is_a_timeout_after_at_most_one_retry(fake_server, customer):
    fake_server.always(200, message(good_answer()), delay=1.5)

    with pytest.raises(ProposalTimeout) as error:
        generate_proposal(cliente=customer, backend=claude(fake_server, timeout=0.3), as_of=AS_OF)

    assert error.value.status_code == 504
    assert len(fake_server.requests) <= 2
    assert not Proposal.objects.exists()


def test_a_server_error_is_a_backend_error_after_one_retry(fake_server, customer):
    fake_server.always(500, {"type": "error", "error": {"type": "api_error", "message": "Internal server error"}})

    with pytest.raises(ProposalBackendError, match="500"):
        generate_proposal(cliente=customer, backend=claude(fake_server), as_of=AS_OF)

    assert len(fake_server.requests) == 2
    assert not Proposal.objects.exists()
