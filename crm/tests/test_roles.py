"""Roles: the groups the migration creates, what each may do, and the second approval of big campaigns."""

import pytest
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, Permission
from django.test import Client
from django.urls import reverse

from aremko.pytest_plugin import make_role_user
from crm import roles
from crm.models import Campaign, CampaignRecipient
from crm.services import campaigns
from crm.tests.builders import make_cliente
from crm.tests.mailtools import make_proposal
from crm.tests.test_campaigns import at_risk_customers

pytestmark = pytest.mark.django_db


def permissions_of(role: str) -> set[str]:
    group = Group.objects.get(name=role)
    return {
        f"{app}.{codename}" for app, codename in group.permissions.values_list("content_type__app_label", "codename")
    }


def test_the_migration_creates_the_three_roles_with_their_permissions():
    assert permissions_of(roles.RECEPCION) == {"ventas.view_cliente", "crm.add_proposal", "ventas.add_consentevent"}
    assert permissions_of(roles.MARKETING) == permissions_of(roles.RECEPCION) | {
        "crm.add_campaign",
        "crm.view_campaign",
    }
    administration = permissions_of(roles.ADMINISTRACION)
    assert permissions_of(roles.MARKETING) < administration
    assert {"crm.approve_campaign", "ventas.add_importrun"} <= administration
    # Every permission the roles name and that exists today is granted (the others come with their models).
    assert administration == set(roles.ROLES[roles.ADMINISTRACION]) - set(
        roles.sync_roles().get(roles.ADMINISTRACION, [])
    )


def test_sync_roles_is_idempotent_and_keeps_permissions_added_by_hand():
    extra = Group.objects.get(name=roles.RECEPCION)
    extra.permissions.add(*Group.objects.get(name=roles.ADMINISTRACION).permissions.filter(codename="view_campaign"))

    roles.sync_roles()
    roles.sync_roles()

    assert Group.objects.filter(name__in=roles.ROLES).count() == 3
    assert "crm.view_campaign" in permissions_of(roles.RECEPCION)


def test_a_permission_whose_model_does_not_exist_yet_is_skipped(monkeypatch):
    monkeypatch.setitem(roles.ROLES, roles.RECEPCION, ["ventas.view_cliente", "crm.view_modelofuturo"])

    skipped = roles.sync_roles()

    assert skipped[roles.RECEPCION] == ["crm.view_modelofuturo"]
    assert "ventas.view_cliente" in permissions_of(roles.RECEPCION)


def login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def status_of(client, name, *args, method="get", **data):
    return getattr(client, method)(reverse(name, args=args), data).status_code


def test_the_role_backend_reads_the_same_permissions_as_django_in_one_query(
    django_user_model, django_assert_num_queries
):
    user = make_role_user("mixta", roles.MARKETING)
    user.user_permissions.add(
        Permission.objects.get(content_type__app_label="crm", codename="view_accesslog")
    )  # its own, outside the role
    user.groups.add(Group.objects.get(name=roles.RECEPCION))  # overlapping roles: each permission once
    expected = ModelBackend().get_all_permissions(django_user_model.objects.get(pk=user.pk))
    assert "crm.view_accesslog" in expected and "crm.add_campaign" in expected
    fresh = django_user_model.objects.get(pk=user.pk)
    with django_assert_num_queries(1):
        assert roles.RoleBackend().get_all_permissions(fresh) == expected
        assert fresh.has_perm("crm.view_accesslog") and not fresh.has_perm("ventas.add_importrun")
    admin = django_user_model.objects.create_superuser("raiz", password="x-very-long-password-1")
    assert roles.RoleBackend().get_all_permissions(admin) == {
        f"{app}.{codename}" for app, codename in Permission.objects.values_list("content_type__app_label", "codename")
    }
    user.is_active = False
    assert roles.RoleBackend().get_all_permissions(user) == set()


def test_the_role_backend_loads_the_user_as_django_does(django_user_model, django_assert_num_queries):
    user = make_role_user("cargada", roles.RECEPCION)
    backend = roles.RoleBackend()
    with django_assert_num_queries(1):
        loaded = backend.get_user(user.pk)
    expected = ModelBackend().get_user(user.pk)
    fields = [field.attname for field in django_user_model._meta.concrete_fields]
    assert [getattr(loaded, name) for name in fields] == [getattr(expected, name) for name in fields]
    assert loaded.last_login is None and loaded.date_joined.tzinfo is not None  # converted as the ORM converts
    assert backend.get_user(user.pk + 1000) is None
    django_user_model.objects.filter(pk=user.pk).update(is_active=False)
    assert backend.get_user(user.pk) is None


def test_recepcion_searches_opens_profiles_and_generates_but_sees_no_campaigns(recepcion_user, settings):
    cliente = make_cliente("Ana Recepción")
    client = login(recepcion_user)

    assert status_of(client, "crm_dashboard") == 200
    assert status_of(client, "crm_buscar", q="ana") == 200
    assert status_of(client, "cliente_detalle", cliente.pk) == 200
    assert status_of(client, "historial_servicios", cliente.pk) == 200
    assert status_of(client, "propuesta_preview", cliente.pk) == 200
    assert status_of(client, "crm_campanas") == 403
    assert status_of(client, "crm_propuestas") == 403
    assert status_of(client, "crm_campana_iniciar", method="post", segmento="vip") == 403
    assert 'href="/ventas/crm/campanas/"' not in client.get(reverse("crm_dashboard")).content.decode()


def test_marketing_runs_campaigns_but_cannot_import(marketing_user):
    client = login(marketing_user)

    assert status_of(client, "crm_campanas") == 200
    assert status_of(client, "crm_propuestas") == 200
    assert client.get(reverse("admin:ventas_importrun_import")).status_code in {302, 403}


def test_staff_without_a_role_sees_no_crm_page(roleless_staff_user):
    client = login(roleless_staff_user)

    response = client.get(reverse("crm_dashboard"))

    assert response.status_code == 403
    assert "pide a Administración el rol" in response.content.decode()


# --- Approval of big campaigns ------------------------------------------------------------------------------


def campaign_in_review(*, size: int, created_by) -> Campaign:
    campaign = Campaign.objects.create(segment="at_risk", status=Campaign.Status.REVIEW, created_by=created_by)
    for index in range(size):
        cliente = make_cliente(f"Cliente Campaña {index}", email=f"c{index}@example.org")
        CampaignRecipient.objects.create(
            campaign=campaign,
            cliente=cliente,
            proposal=make_proposal(cliente),
            status=CampaignRecipient.Status.GENERATED,
        )
    return campaign


def test_a_big_campaign_needs_a_second_person_with_the_approve_permission(
    settings, administracion_user, marketing_user
):
    settings.CAMPAIGN_APPROVAL_THRESHOLD = 2
    campaign = campaign_in_review(size=3, created_by=administracion_user)

    with pytest.raises(campaigns.CampaignError, match="otra persona"):
        campaigns.approve_send(campaign_id=campaign.pk, user=administracion_user)
    with pytest.raises(campaigns.CampaignError, match="permiso"):
        campaigns.approve_send(campaign_id=campaign.pk, user=marketing_user)
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.REVIEW

    second = make_role_user("segunda", roles.ADMINISTRACION)
    approved = campaigns.approve_send(campaign_id=campaign.pk, user=second)

    assert approved.status == Campaign.Status.SENDING
    assert approved.approved_by == second


def test_a_campaign_at_the_threshold_is_approved_by_its_creator(settings, marketing_user):
    settings.CAMPAIGN_APPROVAL_THRESHOLD = 2
    campaign = campaign_in_review(size=2, created_by=marketing_user)

    assert campaigns.approve_send(campaign_id=campaign.pk, user=marketing_user).status == Campaign.Status.SENDING


def test_the_approve_button_refuses_self_approval_with_a_spanish_message(settings, administracion_user):
    settings.CAMPAIGN_APPROVAL_THRESHOLD = 1
    campaign = campaign_in_review(size=2, created_by=administracion_user)

    response = login(administracion_user).post(reverse("crm_campana_aprobar", args=[campaign.pk]))

    assert response.status_code == 409
    assert "debe aprobarla otra persona" in response.content.decode()


def test_a_big_generate_and_send_campaign_started_by_staff_waits_for_review(settings, marketing_user):
    settings.CAMPAIGN_APPROVAL_THRESHOLD = 2
    at_risk_customers(3)
    options = campaigns.CampaignOptions(segment="at_risk", mode=Campaign.Mode.SEND)

    big = campaigns.start_campaign(options=options, user=marketing_user, enqueue=False)
    small = campaigns.start_campaign(
        options=campaigns.CampaignOptions(segment="at_risk", mode=Campaign.Mode.SEND, limit=2),
        user=marketing_user,
        enqueue=False,
    )

    assert big.mode == Campaign.Mode.GENERATE  # stops in review for a second person
    assert small.mode == Campaign.Mode.SEND
