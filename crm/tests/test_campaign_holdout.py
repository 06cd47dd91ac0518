"""Each campaign keeps a random control group that it never contacts, and measures itself against it."""

import datetime
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.models import Campaign, CampaignRecipient, Proposal
from crm.services import campaigns
from crm.services.campaigns import CampaignOptions, holdout
from crm.services.retention.campaign_effect import campaign_effect
from crm.services.retention.uplift import conversion_uplift, mean_uplift
from crm.tests.builders import add_history, make_cliente
from crm.tests.test_campaigns import at_risk_customers

R = CampaignRecipient.Status


def test_holdout_is_the_share_rounded_down_and_reproducible():
    ids = list(range(1, 101))
    assert len(holdout(ids, seed=7, share=0.10)) == 10
    assert holdout(ids, seed=7, share=0.10) == holdout(list(reversed(ids)), seed=7, share=0.10)
    assert holdout(ids, seed=8, share=0.10) != holdout(ids, seed=7, share=0.10)
    assert holdout(list(range(9)), seed=7, share=0.10) == []  # fewer than 10 customers: no control group
    assert len(holdout(ids, seed=7, share=0.9)) == 50  # never more than half the audience


@pytest.mark.django_db
def test_control_customers_are_never_contacted(settings, smtp_server, django_capture_on_commit_callbacks):
    settings.CAMPAIGN_HOLDOUT_SHARE = 0.10
    settings.EMAIL_MAX_PER_MINUTE = 0
    at_risk_customers(30)
    with django_capture_on_commit_callbacks(execute=True):
        campaign = campaigns.start_campaign(options=CampaignOptions(segment="at_risk", mode="send"))
    control = CampaignRecipient.objects.filter(campaign=campaign, status=R.CONTROL)
    assert control.count() == 3
    assert not Proposal.objects.filter(cliente__in=control.values("cliente_id")).exists()
    assert CampaignRecipient.objects.filter(campaign=campaign, status=R.SENT).count() == 27
    assert len(smtp_server.messages) == 27
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DONE


@pytest.mark.django_db
def test_effect_against_the_control_group_by_hand():
    campaign = Campaign.objects.create(segment="at_risk", status=Campaign.Status.DONE)
    day = timezone.localdate(campaign.created_at)
    spent = {  # contacted: 4 of 10 came back; control: 1 of 10
        ("contacted", 0): 50_000,
        ("contacted", 1): 30_000,
        ("contacted", 2): 20_000,
        ("contacted", 3): 40_000,
        ("control", 0): 25_000,
    }
    for group in ("contacted", "control"):
        for i in range(10):
            cliente = make_cliente(f"Cliente {group} {i}")
            status = R.CONTROL if group == "control" else R.SENT
            CampaignRecipient.objects.create(campaign=campaign, cliente=cliente, status=status)
            if (group, i) in spent:
                add_history(cliente, service_date=day + datetime.timedelta(days=3), price=spent[(group, i)])
            add_history(cliente, service_date=day - datetime.timedelta(days=5), price=99_000)  # before: ignored
    effect = campaign_effect(campaign)
    assert (effect.contacted.customers, effect.contacted.converted) == (10, 4)
    assert (effect.control.customers, effect.control.converted) == (10, 1)
    assert effect.contacted.revenue == Decimal(140_000) and effect.control.revenue == Decimal(25_000)
    assert effect.conversion == conversion_uplift(4, 10, 1, 10)
    a = [50_000, 30_000, 20_000, 40_000] + [0] * 6
    b = [25_000] + [0] * 9
    expected = mean_uplift(sum(a), sum(x * x for x in a), 10, sum(b), sum(x * x for x in b), 10)
    assert effect.revenue.difference == pytest.approx(expected.difference)
    assert effect.revenue.low == pytest.approx(expected.low)
    assert not effect.conversion.distinguishable  # 40% vs 10% on ten customers each: not clear at 95%
    assert "no se distingue de cero" in effect.verdict


@pytest.mark.django_db
def test_campaign_page_shows_the_comparison(staff_client):
    campaign = Campaign.objects.create(segment="at_risk", status=Campaign.Status.DONE)
    for i, status in enumerate([R.SENT, R.SENT, R.CONTROL]):
        CampaignRecipient.objects.create(campaign=campaign, cliente=make_cliente(f"Cliente {i}"), status=status)
    response = staff_client.get(reverse("crm_campana", args=[campaign.pk]))
    text = response.content.decode()
    assert "Contra el grupo de control" in text and "Grupo de control" in text


@pytest.mark.django_db
def test_results_filtered_by_campaign_show_its_effect(staff_client):
    campaign = Campaign.objects.create(segment="at_risk", status=Campaign.Status.DONE)
    for i, status in enumerate([R.SENT, R.CONTROL]):
        CampaignRecipient.objects.create(campaign=campaign, cliente=make_cliente(f"Cliente R{i}"), status=status)
    filtered = staff_client.get(reverse("crm_propuestas"), {"campana": campaign.pk}).content.decode()
    assert "Contra el grupo de control" in filtered
    assert "Filtra por una campaña" in staff_client.get(reverse("crm_propuestas")).content.decode()
