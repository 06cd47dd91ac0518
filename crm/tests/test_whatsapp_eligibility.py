"""Who may be in the WhatsApp tray: one test per rule (crm.services.whatsapp.eligibility)."""

import datetime

import pytest
from django.utils import timezone

from crm.models import TrayDay, TrayItem, WhatsAppContact
from crm.services.privacy.consent import record_consent
from crm.services.whatsapp.eligibility import eligible_customers, restart_cycles_after_visits
from crm.tests.builders import add_history, make_cliente
from crm.tests.whatsapp_builders import TODAY
from ventas.models import Cliente, ConsentEvent

pytestmark = pytest.mark.django_db


def eligible_ids(today=TODAY) -> set[int]:
    return set(eligible_customers(today).values_list("pk", flat=True))


def contacted(cliente, *, days_ago: int, holdout=False, contacted=True):
    tray, _ = TrayDay.objects.get_or_create(day=TODAY - datetime.timedelta(days=days_ago), defaults={"size": 50})
    return TrayItem.objects.create(
        tray=tray,
        cliente=cliente,
        tier="overdue",
        rank=1,
        reason="prueba",
        message="Hola",
        holdout=holdout,
        contacted_at=timezone.now() if contacted and not holdout else None,
    )


def test_a_valid_chilean_mobile_is_eligible():
    cliente = make_cliente("Ana Movil", telefono="+56991234567")
    assert cliente.pk in eligible_ids()


@pytest.mark.parametrize("telefono", ["+56652123456", "+14155550123", None])
def test_landlines_foreign_numbers_and_missing_phones_are_not(telefono):
    cliente = make_cliente("Berta Fija", telefono=telefono)
    assert cliente.pk not in eligible_ids()


def test_a_malformed_mobile_stored_by_a_bulk_import_is_not_eligible():
    cliente = make_cliente("Carla Rara", telefono="+56991234567")
    Cliente.objects.filter(pk=cliente.pk).update(telefono="+5699123456x")
    assert cliente.pk not in eligible_ids()


def test_withdrawn_whatsapp_consent_excludes_the_customer():
    cliente = make_cliente("Diana NoWhatsapp", telefono="+56991234567")
    record_consent(cliente=cliente, channel="whatsapp", granted=False, source=ConsentEvent.Source.STAFF)
    assert cliente.pk not in eligible_ids()


def test_consent_granted_again_after_a_withdrawal_makes_the_customer_eligible_again():
    cliente = make_cliente("Elena Vuelve", telefono="+56991234567")
    record_consent(cliente=cliente, channel="whatsapp", granted=False, source=ConsentEvent.Source.STAFF)
    record_consent(cliente=cliente, channel="whatsapp", granted=True, source=ConsentEvent.Source.STAFF)
    assert cliente.pk in eligible_ids()


def test_email_opt_out_does_not_remove_the_customer_from_whatsapp():
    cliente = make_cliente("Fabiola Email", telefono="+56991234567")
    cliente.unsubscribe()
    assert cliente.pk in eligible_ids()


@pytest.mark.parametrize("field", ["bloqueo_desde", "oposicion_desde"])
def test_blocked_or_objecting_customers_are_never_eligible(field):
    cliente = make_cliente("Gabriela Bloqueo", telefono="+56991234567")
    Cliente.objects.filter(pk=cliente.pk).update(**{field: timezone.now()})
    assert cliente.pk not in eligible_ids()


def test_contacted_in_the_last_30_days_is_not_eligible():
    cliente = make_cliente("Helena Reciente", telefono="+56991234567")
    contacted(cliente, days_ago=29)
    assert cliente.pk not in eligible_ids()


def test_contacted_30_days_ago_is_eligible_again():
    cliente = make_cliente("Irene Antigua", telefono="+56991234567")
    contacted(cliente, days_ago=30)
    assert cliente.pk in eligible_ids()


def test_a_holdout_draw_counts_as_contact_so_the_control_group_stays_untouched():
    cliente = make_cliente("Julia Control", telefono="+56991234567")
    contacted(cliente, days_ago=5, holdout=True)
    assert cliente.pk not in eligible_ids()


def test_shown_but_never_contacted_customers_come_back_the_next_day():
    cliente = make_cliente("Karen Pendiente", telefono="+56991234567")
    contacted(cliente, days_ago=1, contacted=False)
    assert cliente.pk in eligible_ids()


def test_three_attempts_in_the_current_cycle_exclude_the_customer():
    cliente = make_cliente("Laura Tres", telefono="+56991234567")
    WhatsAppContact.objects.create(cliente=cliente, attempts=3, cycle_started_on=TODAY - datetime.timedelta(days=90))
    assert cliente.pk not in eligible_ids()


def test_two_attempts_still_allow_a_third():
    cliente = make_cliente("Marta Dos", telefono="+56991234567")
    WhatsAppContact.objects.create(cliente=cliente, attempts=2, cycle_started_on=TODAY - datetime.timedelta(days=60))
    assert cliente.pk in eligible_ids()


def test_a_visit_after_the_cycle_started_opens_a_new_cycle():
    cliente = make_cliente("Nora Volvio", telefono="+56991234567")
    start = TODAY - datetime.timedelta(days=90)
    WhatsAppContact.objects.create(cliente=cliente, attempts=3, cycle_started_on=start)
    add_history(cliente, service_date=start + datetime.timedelta(days=10))
    assert restart_cycles_after_visits() == 1
    assert cliente.pk in eligible_ids()


def test_snoozed_customers_are_out_until_the_snooze_ends():
    cliente = make_cliente("Olga Despues", telefono="+56991234567")
    WhatsAppContact.objects.create(cliente=cliente, snoozed_until=TODAY + datetime.timedelta(days=1))
    assert cliente.pk not in eligible_ids()
    assert cliente.pk in eligible_ids(TODAY + datetime.timedelta(days=1))


def test_a_number_marked_wrong_is_out_until_the_customer_has_another():
    cliente = make_cliente("Paula Numero", telefono="+56991234567")
    WhatsAppContact.objects.create(cliente=cliente, wrong_phone="+56991234567")
    assert cliente.pk not in eligible_ids()
    cliente.telefono = "+56997654321"
    cliente.save()
    assert cliente.pk in eligible_ids()
