"""Results per segment and campaign: sent, failed, opted out and converted, on a hand-made fixture."""

import datetime
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.models import Campaign, CampaignRecipient, Proposal
from crm.services import results
from crm.tests.builders import add_history, make_cliente
from crm.tests.mailtools import make_proposal

SENT = Proposal.Status.SENT


def local(year, month, day, hour=12, minute=0):
    return timezone.make_aware(datetime.datetime(year, month, day, hour, minute))


def sent(cliente, when, **fields):
    return make_proposal(cliente, status=SENT, sent_at=when, sent_to=cliente.email, **fields)


@pytest.fixture
def world(db, settings):
    """Nine proposals; the comment on each says whether it converted within 30 days."""
    settings.PROPOSAL_CONVERSION_DAYS = 30
    day = datetime.date
    a = make_cliente("Ana Converte")
    sent(a, local(2026, 3, 1))  # service 14 days later: converted
    add_history(a, service_date=day(2026, 3, 15))

    b = make_cliente("Bruno Tarde")
    sent(b, local(2026, 3, 1))  # service 31 days later: not converted
    add_history(b, service_date=day(2026, 4, 1))

    c = make_cliente("Carla Antes")
    sent(c, local(2026, 3, 10))  # service before the email: not converted
    add_history(c, service_date=day(2026, 3, 9))

    d = make_cliente("Diego Limite")
    sent(d, local(2026, 3, 1))  # service exactly 30 days later: converted
    add_history(d, service_date=day(2026, 3, 31))

    e = make_cliente("Elena Noche")
    sent(e, local(2026, 3, 1, 23, 30))  # 02:30 UTC next day; service the same local day: converted
    add_history(e, service_date=day(2026, 3, 1))

    f = make_cliente("Fabian Placeholder")
    sent(f, local(2020, 12, 20))  # only a row on the unknown-date placeholder (2021-01-01): not converted
    add_history(f, service_date=settings.HISTORY_PLACEHOLDER_DATE)

    g = make_cliente("Gloria Baja")
    sent(g, local(2026, 3, 1), segment="lost")  # opted out after the email
    g.unsubscribe(when=local(2026, 3, 2))

    h = make_cliente("Hugo Falla")
    make_proposal(h, status=Proposal.Status.FAILED, failed_at=local(2026, 3, 1), segment="lost")
    add_history(h, service_date=day(2026, 3, 5))  # a failed email never converts

    i = make_cliente("Ines Pendiente")
    make_proposal(i, segment="lost")  # generated, never sent
    return {"a": a, "b": b, "g": g}


def by_key(rows, key):
    return {row[key]: row for row in rows}


def test_conversions_per_segment_follow_the_window_and_real_dates(world):
    rows = by_key(results.results_by_segment(results.filtered_proposals(results.ProposalFilters())), "segment")

    at_risk, lost = rows["at_risk"], rows["lost"]
    assert (at_risk["generated"], at_risk["sent"], at_risk["failed"], at_risk["converted"]) == (6, 6, 0, 3)
    assert at_risk["conversion_rate"] == pytest.approx(0.5)
    assert (lost["generated"], lost["sent"], lost["failed"], lost["opted_out"], lost["converted"]) == (3, 1, 1, 1, 0)


def test_conversion_window_is_configurable(world, settings):
    settings.PROPOSAL_CONVERSION_DAYS = 31

    figures = results.totals(results.results_by_segment(results.filtered_proposals(results.ProposalFilters())))

    assert figures["converted"] == 4  # Bruno's service 31 days later now counts


def test_results_per_campaign_separate_manual_sends(world):
    campaign = Campaign.objects.create(segment="at_risk", status=Campaign.Status.DONE)
    for cliente in (world["a"], world["b"]):
        CampaignRecipient.objects.create(
            campaign=campaign, cliente=cliente, proposal=cliente.propuestas.get(), status=CampaignRecipient.Status.SENT
        )

    rows = by_key(results.results_by_campaign(results.filtered_proposals(results.ProposalFilters())), "campaign_id")

    assert (rows[campaign.pk]["sent"], rows[campaign.pk]["converted"]) == (2, 1)
    assert rows[None]["generated"] == 7


def test_totals_and_filters(world):
    def totals(**filters):
        proposals = results.filtered_proposals(results.ProposalFilters(**filters))
        return results.totals(results.results_by_segment(proposals))

    everything = totals()
    lost_failed = totals(segment="lost", status="failed")

    assert everything == {
        "generated": 9,
        "sent": 7,
        "failed": 1,
        "opted_out": 1,
        "converted": 3,
        "conversion_rate": pytest.approx(3 / 7),
    }
    assert lost_failed["generated"] == 1


def test_results_page_shows_figures_and_list(staff_client, world, django_assert_max_num_queries):
    with django_assert_max_num_queries(10):
        response = staff_client.get(reverse("crm_propuestas"))

    assert response.status_code == 200
    body = response.content.decode()
    assert "En riesgo" in body
    assert re.search(r"50,0\s%", body)  # at_risk conversion
    assert "Ana Converte" in body
    assert "Envíos manuales" in body


def test_results_page_filters_by_date_in_chilean_format(staff_client, world):
    today = timezone.localdate().strftime("%d-%m-%Y")

    response = staff_client.get(reverse("crm_propuestas"), {"desde": today, "estado": "generated"})

    assert response.status_code == 200
    assert "Ines Pendiente" in response.content.decode()
    assert "Ana Converte" not in response.content.decode()


@pytest.mark.parametrize(
    "params",
    [{"estado": "inventado"}, {"desde": "2026-99-99"}, {"desde": "10-03-2026", "hasta": "01-03-2026"}, {"motor": "x"}],
)
def test_bad_filters_answer_400_with_a_spanish_message(staff_client, db, params):
    response = staff_client.get(reverse("crm_propuestas"), params)

    assert response.status_code == 400
    assert 'class="error"' in response.content.decode()


def test_results_page_needs_staff(client, db):
    assert client.get(reverse("crm_propuestas")).status_code == 302
