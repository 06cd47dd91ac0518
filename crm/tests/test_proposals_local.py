import datetime
import re

import pytest
from django.conf import settings

from crm.models import Proposal
from crm.services.proposals import ProposalConfigurationError, generate_proposal
from crm.services.proposals.errors import NoActiveServices
from crm.services.proposals.schema import UNSUBSCRIBE_MARKER
from crm.services.proposals.service import build_request
from crm.services.recommender.catalogue import load_catalogue
from crm.services.recommender.stats import global_stats
from crm.tests.proposal_fixtures import AS_OF, catalogue_fixture, cliente, community_fixture, visit  # noqa: F401
from ventas.models import Servicio

pytestmark = pytest.mark.django_db


def recommendations_for(customer, as_of=AS_OF):
    return build_request(customer, as_of).candidates[:3]


def test_recommends_only_active_catalogue_services(community):
    customer = cliente()
    visit(customer, AS_OF - datetime.timedelta(days=30), "Tina Antigua", "Servicio Fantasma")
    active_ids = set(Servicio.objects.filter(activo=True).values_list("id", flat=True))

    recommendations = recommendations_for(customer)

    assert 2 <= len(recommendations) <= 3
    assert {item.service_id for item in recommendations} <= active_ids
    assert "Tina Antigua" not in {item.service_name for item in recommendations}


def test_same_data_and_date_give_the_same_recommendations(community):
    customer = cliente()
    visit(customer, AS_OF - datetime.timedelta(days=10), "Tina Calbuco")

    assert recommendations_for(customer) == recommendations_for(customer)


def test_cold_start_recommends_the_popular_services(community):
    newcomer = cliente("Nueva Clienta")

    recommendations = recommendations_for(newcomer)

    assert recommendations[0].service_name == "Tina Calbuco"
    assert len(recommendations) == 3
    assert all(item.reason for item in recommendations)


def test_a_service_nobody_has_booked_yet_is_not_called_a_favourite(community):
    """Popularity 0 (new in the catalogue): neither "0 reservas" nor "uno de los favoritos" would be true."""
    tinas = Servicio.objects.get(nombre="Tina Calbuco").categoria
    fresh = Servicio.objects.create(nombre="Tina Nueva", categoria=tinas, tipo_servicio="tina", precio_base=20_000)
    newcomer = cliente("Nuevo Cliente")

    item = next(item for item in build_request(newcomer, AS_OF).candidates if item.service_id == fresh.pk)

    assert item.reason == "Servicio nuevo o aún sin reservas en el historial"
    assert item.customer_reason == "Una novedad que vale la pena conocer."


def test_co_occurrence_reason_names_the_service_it_goes_with(community):
    customer = cliente()
    visit(customer, AS_OF - datetime.timedelta(days=10), "Tina Calbuco")

    masaje = next(item for item in recommendations_for(customer) if item.service_name == "Masaje Relajación")

    assert "Tina Calbuco" in masaje.reason
    assert re.search(r"\d+%", masaje.reason)
    assert len(masaje.reason) <= 100


def test_repeat_customers_get_their_favourite_with_the_visit_count(community):
    customer = cliente()
    for weeks in (2, 10, 20):
        visit(customer, AS_OF - datetime.timedelta(weeks=weeks), "Cabaña Torre", price=120_000)

    first = recommendations_for(customer)[0]

    assert first.service_name == "Cabaña Torre"
    assert first.reason == "Lo eligió en todas sus 3 visitas"
    assert first.estimated_price == 120_000


def test_confidence_is_a_score_between_zero_and_one_not_a_constant(community):
    customer = cliente()
    visit(customer, AS_OF - datetime.timedelta(days=10), "Tina Calbuco")

    confidences = [item.confidence for item in recommendations_for(customer)]

    assert all(0 < value < 1 for value in confidences)
    assert len(set(confidences)) > 1
    assert confidences == sorted(confidences, reverse=True)


def test_placeholder_dates_do_not_count_as_visits_together(community):
    customer = cliente()
    placeholder = settings.HISTORY_PLACEHOLDER_DATE
    for index in range(5):
        other = cliente(f"Legado{index} Cliente")
        visit(other, placeholder, "Tina Osorno", "Cabaña Torre")
    visit(customer, AS_OF - datetime.timedelta(days=10), "Tina Osorno")

    stats = global_stats(load_catalogue(), before=AS_OF, services=["Tina Osorno"])

    assert stats.pairs.get("tina osorno", {}).get("cabana torre", 0) == 0
    assert stats.popularity["cabana torre"] == 5  # still counts as popularity


def test_generate_proposal_stores_the_whole_shape(community, staff_user):
    customer = cliente()
    visit(customer, AS_OF - datetime.timedelta(days=10), "Tina Calbuco")

    proposal = generate_proposal(cliente=customer, user=staff_user, as_of=AS_OF)

    proposal.refresh_from_db()
    assert proposal.backend == "local"
    assert proposal.created_by == staff_user
    assert proposal.segment == "promising"
    assert re.fullmatch(r"ARK-[A-Z2-9]{8}", proposal.offer_code)
    assert proposal.offer["code"] == proposal.offer_code
    assert proposal.offer["valid_until"] == "2026-08-14"
    assert set(proposal.insights) == {"segment", "behaviour", "preferences"}
    assert proposal.customer_profile["name"] == "Valentina Prueba"
    assert 2 <= len(proposal.recommendations) <= 3
    assert UNSUBSCRIBE_MARKER in proposal.email_body
    assert UNSUBSCRIBE_MARKER in proposal.email_text
    assert "Hola Valentina" in proposal.email_text
    assert proposal.recommendations[0]["service_name"] in proposal.email_body
    assert "Valentina" in proposal.email_subject


def test_offer_codes_are_unique(community):
    customer = cliente()

    codes = {generate_proposal(cliente=customer, as_of=AS_OF).offer_code for _ in range(5)}

    assert len(codes) == 5


@pytest.mark.parametrize(
    ("days_ago", "visits", "title"),
    [
        (400, 6, "Le echamos de menos"),  # at_risk: win-back
        (20, 1, "Su segunda experiencia"),  # promising: second-visit incentive
    ],
)
def test_the_offer_follows_the_segment(community, days_ago, visits, title):
    customer = cliente()
    for index in range(visits):
        visit(customer, AS_OF - datetime.timedelta(days=days_ago + index * 30), "Tina Calbuco")

    proposal = generate_proposal(cliente=customer, as_of=AS_OF)

    assert proposal.offer["title"] == title


def test_the_discount_never_exceeds_the_configured_cap(community, settings):
    settings.PROPOSAL_MAX_DISCOUNT = 5
    customer = cliente()
    for index in range(6):
        visit(customer, AS_OF - datetime.timedelta(days=400 + index * 30), "Tina Calbuco")

    proposal = generate_proposal(cliente=customer, as_of=AS_OF)

    assert proposal.segment == "at_risk"
    assert proposal.offer["discount"] == 5


def test_vip_customers_get_an_exclusive_upgrade(community):
    customer = cliente()
    for index in range(10):
        visit(customer, AS_OF - datetime.timedelta(days=5 + index * 7), "Cabaña Torre", price=120_000)

    proposal = generate_proposal(cliente=customer, as_of=AS_OF)

    assert proposal.segment == "vip"
    assert "exclusiv" in proposal.offer["title"].lower()


def test_generating_a_proposal_issues_a_bounded_number_of_queries(community, django_assert_max_num_queries):
    customer = cliente()
    visit(customer, AS_OF - datetime.timedelta(days=10), "Tina Calbuco", "Masaje Relajación")

    with django_assert_max_num_queries(12):
        generate_proposal(cliente=customer, as_of=AS_OF)


def test_unknown_backend_is_a_configuration_error(community, settings):
    settings.PROPOSAL_BACKEND = "oraculo"

    with pytest.raises(ProposalConfigurationError):
        generate_proposal(cliente=cliente(), as_of=AS_OF)
    assert not Proposal.objects.exists()


def test_a_single_active_service_still_makes_a_proposal_with_one_recommendation(community):
    Servicio.objects.exclude(nombre="Tina Osorno").update(activo=False)
    customer = cliente()
    visit(customer, AS_OF - datetime.timedelta(days=10), "Tina Calbuco")

    proposal = generate_proposal(cliente=customer, as_of=AS_OF)

    assert [item["service_name"] for item in proposal.recommendations] == ["Tina Osorno"]


def test_no_active_service_raises_409_and_stores_nothing(community):
    Servicio.objects.update(activo=False)

    with pytest.raises(NoActiveServices) as raised:
        generate_proposal(cliente=cliente(), as_of=AS_OF)

    assert raised.value.status_code == 409
    assert "importa el historial" in raised.value.message
    assert not Proposal.objects.exists()


def test_a_campaign_records_the_empty_catalogue_as_a_per_customer_failure(community, staff_user):
    from crm.models import Campaign, CampaignRecipient
    from crm.services import campaigns

    Servicio.objects.update(activo=False)
    customer = cliente()
    visit(customer, AS_OF - datetime.timedelta(days=10), "Tina Calbuco")
    campaign = Campaign.objects.create(segment="promising", created_by=staff_user)
    CampaignRecipient.objects.create(campaign=campaign, cliente=customer)

    campaigns.run_campaign(campaign.pk)

    recipient = CampaignRecipient.objects.get(campaign=campaign)
    assert recipient.status == CampaignRecipient.Status.FAILED
    assert "catálogo no tiene servicios activos" in recipient.error
    assert not Proposal.objects.exists()
