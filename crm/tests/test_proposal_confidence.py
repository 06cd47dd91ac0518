"""A recommendation's confidence shown as what it is: the chance of taking it on the next visit, next to the
average customer's chance, with a neutral level; never in the customer's email."""

import datetime

import numpy as np
import pytest
from django.core.cache import cache
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from crm.models import Campaign, CampaignRecipient, RecommenderModel
from crm.services.proposals import generate_proposal
from crm.services.proposals.schema import Draft, OfferDraft, Recommendation
from crm.services.proposals.service import with_recommender_figures
from crm.services.recommender.confidence import (
    LEGEND,
    base_rate,
    base_rates_of,
    describe_confidence,
    recommendations_for_staff,
)
from crm.services.recommender.model import DEFAULT_MODEL, current_model
from crm.services.recommender.training import train
from crm.tests.proposal_fixtures import AS_OF, catalogue_fixture, cliente, community_fixture, visit  # noqa: F401
from crm.tests.test_recommender_training import CUTOFF, history

pytestmark = pytest.mark.django_db

JSON = {"HTTP_ACCEPT": "application/json"}


# --- the service function ----------------------------------------------------------------------------------------


def test_confidence_reads_as_a_probability_compared_with_the_average():
    view = describe_confidence(0.24, 0.08)

    assert view.text == "Probabilidad de tomarlo en la próxima visita: 24\u00a0% (3,0× el promedio)"
    assert (view.level, view.label) == ("alta", "Alta")
    assert "Un cliente promedio lo toma en el 8\u00a0% de sus próximas visitas" in view.title
    assert view.ratio == pytest.approx(3.0)


@pytest.mark.parametrize(
    ("probability", "average", "level"),
    [(0.12, 0.08, "alta"), (0.10, 0.08, "media"), (0.06, 0.08, "media"), (0.05, 0.08, "baja"), (0.9, 0.05, "alta")],
)
def test_the_level_depends_on_the_ratio_to_the_average_not_on_the_raw_percentage(probability, average, level):
    assert describe_confidence(probability, average).level == level


def test_without_an_average_only_the_probability_is_shown():
    view = describe_confidence(0.31, None)

    assert view.text == "Probabilidad de tomarlo en la próxima visita: 31\u00a0%"
    assert (view.level, view.label, view.average) == ("", "", None)
    assert "promedio" not in view.text
    assert describe_confidence(0.31, 0.0).level == ""


def test_small_and_large_figures_stay_readable():
    assert "0,4\u00a0%" in describe_confidence(0.004, 0.002).text
    assert "(12× el promedio)" in describe_confidence(0.6, 0.05).text


def test_base_rates_are_the_share_of_next_visits_that_included_each_service():
    ids = np.array([7, 9, 11])
    taken = np.array([[True, False, False], [True, True, False], [False, False, False], [True, False, False]])

    assert base_rates_of(ids, taken) == {"7": 0.75, "9": 0.25, "11": 0.0}
    assert base_rates_of(ids, np.zeros((0, 3), dtype=bool)) == {}


def test_the_base_rate_comes_from_the_stored_model_and_is_unknown_for_the_defaults():
    record = RecommenderModel.objects.create(
        fitted_at=timezone.now(), kind="motor", weights={"own": 1.0}, bias=0.0, metrics={"base_rates": {"5": 0.08}}
    )
    model = current_model()

    assert model.name == record.name_for_proposals
    assert base_rate(model, 5) == 0.08
    assert base_rate(model, 6) is None
    assert base_rate(DEFAULT_MODEL, 5) is None


def test_training_stores_a_base_rate_per_active_service(catalogue):
    history(customers=60)

    stored = train(cutoff=CUTOFF).stored

    rates = stored.metrics["base_rates"]
    active = {str(service.pk) for service in catalogue.values() if service.activo}
    assert set(rates) == active
    assert all(0 <= rate <= 1 for rate in rates.values())
    assert max(rates.values()) > 0


def test_a_proposal_stores_each_service_base_rate_with_its_confidence(catalogue):
    history(customers=60)
    stored = train(cutoff=CUTOFF).stored
    person = cliente("Persona Prueba")
    visit(person, AS_OF - datetime.timedelta(days=30), "Tina Calbuco")

    proposal = generate_proposal(cliente=person, as_of=AS_OF)

    for item in proposal.recommendations:
        assert item["base_rate"] == stored.metrics["base_rates"][str(item["service_id"])]
    # the customer's email never shows the figures
    for text in (proposal.email_body, proposal.email_text):
        assert "Probabilidad" not in text and "promedio" not in text


def test_an_ai_engines_pick_shows_the_recommenders_calibrated_figures():
    def recommendation(confidence, base_rate=None, customer_reason=""):
        return Recommendation(1, "Tina Calbuco", "Tinas", "Su favorita", confidence, 25000, customer_reason, base_rate)

    draft = Draft(insights={}, recommendations=[recommendation(0.9)], offer=OfferDraft("Oferta", "Texto", None))
    with_recommender_figures(draft, [recommendation(0.24, 0.08, "Uno de sus favoritos en Aremko.")])

    [item] = draft.recommendations
    assert (item.confidence, item.base_rate) == (0.24, 0.08)  # the engine's own 0.9 is not a probability
    assert item.reason == "Su favorita" and item.customer_reason == "Uno de sus favoritos en Aremko."


# --- the rendered fragment and the pages -------------------------------------------------------------------------


RECOMMENDATIONS = [
    {
        "service_id": 1,
        "service_name": "Tina Calbuco",
        "category": "Tinas",
        "reason": "Lo eligió en todas sus 3 visitas",
        "confidence": 0.24,
        "estimated_price": 25000,
        "base_rate": 0.08,
    },
    {
        "service_id": 2,
        "service_name": "Masaje Relajación",
        "category": "Masajes",
        "reason": "Quienes toman Tina Calbuco lo suman el mismo día en el 40% de las visitas",
        "confidence": 0.05,
        "estimated_price": 40000,
    },  # stored before base rates were kept
]


def test_the_fragment_shows_probability_level_and_legend_without_a_meter():
    html = render_to_string(
        "crm/_recomendaciones.html",
        {"recommendations": recommendations_for_staff(RECOMMENDATIONS), "confidence_legend": LEGEND},
    )

    assert "<meter" not in html
    assert '<span class="propuesta-nivel propuesta-nivel-alta">Alta</span>' in html
    assert "Probabilidad de tomarlo en la próxima visita: 24\u00a0% (3,0× el promedio)" in html
    assert 'title="Probabilidad de que el cliente tome el servicio' in html
    assert "Probabilidad de tomarlo en la próxima visita: 5\u00a0%</p>" in html  # no average, no level
    assert "$25.000" in html
    assert "comparada con la de un cliente promedio que vuelve" in html


@pytest.fixture
def proposal(community):
    cache.clear()
    person = cliente("Antonia Llanquihue")
    visit(person, timezone.localdate() - datetime.timedelta(days=15), "Tina Calbuco", "Masaje Relajación")
    return generate_proposal(cliente=person)


def test_generating_returns_the_confidence_wording_for_the_page_script(staff_client, proposal):
    response = staff_client.post(reverse("generar_propuesta", args=[proposal.cliente_id]), **JSON)

    data = response.json()
    assert data["confidence_legend"] == LEGEND
    display = data["recommendations"][0]["confidence_display"]
    assert display["text"].startswith("Probabilidad de tomarlo en la próxima visita: ")
    assert {"level", "label", "text", "title"} == set(display)
    cache.clear()


def test_the_preview_page_lists_the_recommendations_with_their_confidence(staff_client, proposal):
    html = staff_client.get(reverse("propuesta_preview", args=[proposal.cliente_id])).content.decode()

    assert 'class="propuesta-confianza"' in html
    assert html.count("Probabilidad de tomarlo en la próxima visita") == len(proposal.recommendations)


def test_the_campaign_proposal_page_shows_the_confidence_too(staff_client, proposal):
    campaign = Campaign.objects.create(segment=proposal.segment, status=Campaign.Status.REVIEW)
    recipient = CampaignRecipient.objects.create(
        campaign=campaign, cliente=proposal.cliente, proposal=proposal, status=CampaignRecipient.Status.GENERATED
    )

    html = staff_client.get(reverse("crm_campana_destinatario", args=[campaign.pk, recipient.pk])).content.decode()

    assert html.count("Probabilidad de tomarlo en la próxima visita") == len(proposal.recommendations)


def test_the_preview_links_to_older_proposals_by_their_plain_id(staff_client, proposal):
    generate_proposal(cliente=proposal.cliente)  # the newest is on screen; the first one is linked
    type(proposal).objects.filter(pk=proposal.pk).update(id=1234)

    html = staff_client.get(reverse("propuesta_preview", args=[proposal.cliente_id])).content.decode()

    assert 'href="?propuesta=1234"' in html  # never "1.234", which would select nothing
