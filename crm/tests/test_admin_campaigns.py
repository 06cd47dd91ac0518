"""The campaigns' admin pages (read-only, Spanish) and the Spanish background-task admin."""

import pytest
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from crm.models import Campaign, CampaignRecipient
from ventas.models import Cliente

pytestmark = pytest.mark.django_db


@pytest.fixture
def campaign(admin_user):
    campaign = Campaign.objects.create(
        segment="at_risk", status=Campaign.Status.DONE, created_by=admin_user, approved_by=admin_user
    )
    statuses = [CampaignRecipient.Status.SENT] * 3 + [CampaignRecipient.Status.SKIPPED]
    for number, status in enumerate(statuses):
        cliente = Cliente.objects.create(nombre=f"Cliente {number}", email=f"c{number}@example.org")
        CampaignRecipient.objects.create(campaign=campaign, cliente=cliente, status=status)
    return campaign


def test_campaign_changelist_lists_status_audience_and_counts(admin_client, campaign):
    response = admin_client.get(reverse("admin:crm_campaign_changelist"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Terminada" in html and "En riesgo" in html
    assert '<td class="field-recipients_total">4</td>' in html
    assert '<td class="field-recipients_sent">3</td>' in html
    assert "aprobada por" in html.lower()


def test_campaign_changelist_search_and_filters_do_not_fail(admin_client, campaign):
    url = reverse("admin:crm_campaign_changelist")
    for params in ({"q": "at_risk"}, {"q": str(campaign.pk)}, {"q": "x'\""}, {"status": "done"}, {"o": "6"}):
        assert admin_client.get(url, params).status_code == 200, params


def test_campaign_change_page_is_read_only_with_recipients(admin_client, campaign):
    response = admin_client.get(reverse("admin:crm_campaign_change", args=[campaign.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Cliente 0" in html and "Enviado" in html
    assert 'name="_save"' not in html
    assert reverse("crm_campana", args=[campaign.pk]) in html


def test_campaigns_cannot_be_added_nor_deleted(admin_client, campaign):
    """A campaign is the record of who was emailed and of its control group: the admin never deletes one."""
    assert admin_client.get(reverse("admin:crm_campaign_add")).status_code == 403
    running = Campaign.objects.create(segment="lost", status=Campaign.Status.SENDING)
    assert admin_client.get(reverse("admin:crm_campaign_delete", args=[running.pk])).status_code == 403
    assert admin_client.get(reverse("admin:crm_campaign_delete", args=[campaign.pk])).status_code == 403
    listing = admin_client.get(reverse("admin:crm_campaign_changelist")).content.decode()
    assert "delete_selected" not in listing


def test_background_tasks_admin_is_in_spanish(admin_client):
    DBTaskResult.objects.create(
        args_kwargs={"args": [], "kwargs": {}},
        task_path="crm.tasks.refresh_statistics",
        backend_name="default",
        run_after=timezone.now(),
        status="SUCCESSFUL",
    )
    index = admin_client.get(reverse("admin:index")).content.decode()
    assert "Tareas en segundo plano" in index
    assert "Protección del acceso" in index and ">Axes<" not in index
    assert "Resultados de tareas" in index
    assert "Tasks Database Backend" not in index and "Task Results" not in index
    assert "Intentos de acceso" in index and "Access attempts" not in index  # django-axes
    changelist = admin_client.get(reverse("admin:django_tasks_database_dbtaskresult_changelist")).content.decode()
    assert "Encolada" in changelist and "Prioridad" in changelist and "Terminada" in changelist
