"""Every outcome of a tray item and its effect on the customer's next trays (crm.services.whatsapp.outcomes)."""

import datetime

import pytest

from crm.models import TrayItem, WhatsAppContact
from crm.services import campaigns
from crm.services.rfm import customer_rfm
from crm.services.whatsapp import WhatsAppError, build_tray, record_outcome
from crm.services.whatsapp.eligibility import eligible_customers
from crm.services.whatsapp.messages import STOP_LINE
from crm.tests.whatsapp_builders import TODAY, overdue_customer
from ventas.models import ConsentEvent

pytestmark = pytest.mark.django_db

LATER_DAY = TODAY + datetime.timedelta(days=31)


@pytest.fixture(autouse=True)
def no_holdout(settings):
    settings.WHATSAPP_HOLDOUT_SHARE = 0.0


@pytest.fixture
def item():
    overdue_customer()
    build_tray(TODAY, size=50)
    return TrayItem.objects.select_related("cliente").get()


def state(item) -> WhatsAppContact:
    return WhatsAppContact.objects.get(cliente_id=item.cliente_id)


def test_enviado_records_operator_time_and_one_attempt(item, staff_user):
    record_outcome(item_id=item.pk, outcome="enviado", user=staff_user)
    item.refresh_from_db()
    assert item.outcome == "enviado" and item.operator == staff_user
    assert item.outcome_at is not None and item.contacted_at is not None
    assert state(item).attempts == 1
    assert state(item).cycle_started_on == TODAY


def test_changing_the_outcome_never_counts_a_second_attempt(item):
    record_outcome(item_id=item.pk, outcome="enviado")
    first_contact = TrayItem.objects.get(pk=item.pk).contacted_at
    record_outcome(item_id=item.pk, outcome="enviado")
    assert state(item).attempts == 1
    assert TrayItem.objects.get(pk=item.pk).contacted_at == first_contact


def test_a_customer_contacted_today_is_not_in_the_trays_of_the_next_30_days(item):
    record_outcome(item_id=item.pk, outcome="enviado")
    assert not build_tray(TODAY + datetime.timedelta(days=29), size=50).tray.items.exists()
    assert build_tray(TODAY + datetime.timedelta(days=30), size=50).tray.items.filter(cliente=item.cliente).exists()


@pytest.mark.parametrize("outcome", ["respondió_interesado", "reservó"])
def test_an_answer_or_a_booking_ends_the_cycle(item, outcome):
    WhatsAppContact.objects.create(cliente=item.cliente, attempts=2, cycle_started_on=TODAY - datetime.timedelta(60))
    record_outcome(item_id=item.pk, outcome=outcome)
    assert TrayItem.objects.get(pk=item.pk).outcome == outcome
    assert state(item).attempts == 0 and state(item).cycle_started_on is None


def test_more_adelante_snoozes_60_days_and_a_second_click_90(item):
    record_outcome(item_id=item.pk, outcome="más_adelante")
    assert state(item).snoozed_until == TODAY + datetime.timedelta(days=60)
    record_outcome(item_id=item.pk, outcome="más_adelante")
    assert state(item).snoozed_until == TODAY + datetime.timedelta(days=90)
    assert item.cliente_id not in set(
        eligible_customers(TODAY + datetime.timedelta(days=89)).values_list("pk", flat=True)
    )


def test_no_contactar_withdraws_whatsapp_consent_in_the_ledger_with_source_time_and_operator(item, staff_user):
    record_outcome(item_id=item.pk, outcome="no_contactar", user=staff_user)
    event = ConsentEvent.objects.get(cliente=item.cliente)
    assert event.channel == ConsentEvent.Channel.WHATSAPP and event.granted is False
    assert event.source == ConsentEvent.Source.STAFF
    assert event.created_by == staff_user and event.created_at is not None
    assert "NO" in event.text


def test_no_contactar_removes_the_customer_from_every_future_tray(item):
    record_outcome(item_id=item.pk, outcome="no_contactar")
    for days in (31, 120, 400):
        day = TODAY + datetime.timedelta(days=days)
        assert not build_tray(day, size=50).tray.items.filter(cliente=item.cliente).exists()


def test_no_contactar_leaves_email_consent_and_email_campaigns_alone(item):
    record_outcome(item_id=item.pk, outcome="no_contactar")
    item.cliente.refresh_from_db()
    assert item.cliente.acepta_marketing is True
    options = campaigns.CampaignOptions(segment=customer_rfm(item.cliente_id, TODAY).segment.key)
    assert campaigns.audience(options, as_of=TODAY).filter(pk=item.cliente_id).exists()


def test_numero_equivocado_marks_the_number_and_is_not_a_contact(item):
    record_outcome(item_id=item.pk, outcome="número_equivocado")
    assert state(item).wrong_phone == item.cliente.telefono
    assert state(item).attempts == 0
    assert TrayItem.objects.get(pk=item.pk).contacted_at is None
    assert not build_tray(LATER_DAY, size=50).tray.items.exists()


def test_outcomes_accept_the_values_without_accents(item):
    record_outcome(item_id=item.pk, outcome="reservo")
    assert TrayItem.objects.get(pk=item.pk).outcome == "reservó"


def test_an_unknown_outcome_is_refused(item):
    with pytest.raises(WhatsAppError, match="Resultado desconocido"):
        record_outcome(item_id=item.pk, outcome="quizás")


def test_holdout_items_take_no_outcome(item):
    TrayItem.objects.filter(pk=item.pk).update(holdout=True)
    with pytest.raises(WhatsAppError, match="grupo de control"):
        record_outcome(item_id=item.pk, outcome="enviado")


def test_no_contactar_removes_the_customer_from_whatsapp_campaign_audiences(item):
    segment = customer_rfm(item.cliente_id, TODAY).segment.key
    whatsapp = campaigns.CampaignOptions(segment=segment, channel="whatsapp")
    assert campaigns.audience(whatsapp, as_of=TODAY).filter(pk=item.cliente_id).exists()
    record_outcome(item_id=item.pk, outcome="no_contactar")
    assert not campaigns.audience(whatsapp, as_of=TODAY).filter(pk=item.cliente_id).exists()


def test_the_edited_message_is_kept_on_the_first_contact_with_the_stop_line(item):
    record_outcome(item_id=item.pk, outcome="enviado", message="Hola Valentina, ¿le reservamos?")
    record_outcome(item_id=item.pk, outcome="reservó", message="otro texto")
    saved = TrayItem.objects.get(pk=item.pk).message
    assert saved.startswith("Hola Valentina, ¿le reservamos?") and saved.endswith(STOP_LINE + ".")
