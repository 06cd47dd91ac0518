"""crm.services.mail against a real SMTP server on loopback."""

import datetime
import threading

import pytest
from django.db import connection
from django.utils import timezone

from crm.models import Proposal
from crm.services import mail
from crm.tests.builders import make_cliente
from crm.tests.mailtools import make_proposal
from ventas.models import Cliente


def instant_mailer():
    return mail.Mailer(
        from_email="Aremko Spa <reservas@example.com>", reply_to="", site_url="https://crm.example.com", retry_delay=0
    )


@pytest.fixture
def cliente(db):
    return make_cliente("Valentina Rojas", email="valentina@example.org")


def test_sent_message_has_recipient_subject_both_parts_and_unsubscribe_link(smtp_server, cliente):
    proposal = make_proposal(cliente, email_subject="Vuelve a las tinas, Valentina")

    mail.send_proposal(proposal=proposal)

    [envelope] = smtp_server.envelopes
    assert envelope.rcpt_tos == ["valentina@example.org"]
    assert envelope.mail_from == "reservas@example.com"
    [message] = smtp_server.messages
    assert message["Subject"] == "Vuelve a las tinas, Valentina"
    assert message["To"] == "Valentina Rojas <valentina@example.org>"
    assert message["From"] == "Aremko Spa <reservas@example.com>"
    url = mail.unsubscribe_url(cliente.pk)
    assert url.startswith("https://crm.example.com/ventas/crm/baja/")
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    assert "vuelve a las tinas" in text
    assert f"Darme de baja: {url}" in text
    assert f'<a href="{url}">Darme de baja</a>' in html
    assert "[[BAJA_URL]]" not in text + html


def test_sent_message_has_one_click_unsubscribe_headers(smtp_server, cliente):
    mail.send_proposal(proposal=make_proposal(cliente))

    [message] = smtp_server.messages
    # Long values are folded onto a continuation line; unfolded, the header is exactly the bracketed URL.
    assert message["List-Unsubscribe"].strip() == f"<{mail.unsubscribe_url(cliente.pk)}>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_reply_to_is_added_when_configured(smtp_server, cliente, settings):
    settings.REPLY_TO = "reservas@example.com"

    mail.send_proposal(proposal=make_proposal(cliente))

    assert smtp_server.messages[0]["Reply-To"] == "reservas@example.com"


def test_body_without_marker_gets_an_unsubscribe_footer(smtp_server, cliente):
    proposal = make_proposal(cliente, email_body="<p>Hola</p>", email_text="Hola")

    mail.send_proposal(proposal=proposal)

    [message] = smtp_server.messages
    url = mail.unsubscribe_url(cliente.pk)
    assert url in message.get_body(preferencelist=("plain",)).get_content()
    assert f'href="{url}"' in message.get_body(preferencelist=("html",)).get_content()


def test_sending_marks_the_proposal_sent_with_recipient_and_time(smtp_server, cliente):
    proposal = make_proposal(cliente)

    mail.send_proposal(proposal=proposal)

    proposal.refresh_from_db()
    assert proposal.status == Proposal.Status.SENT
    assert proposal.sent_to == "valentina@example.org"
    assert timezone.now() - proposal.sent_at < datetime.timedelta(seconds=30)
    assert proposal.attempts == 1


def test_a_sent_proposal_is_not_sent_again(smtp_server, cliente):
    proposal = make_proposal(cliente)
    mail.send_proposal(proposal=proposal)

    with pytest.raises(mail.ProposalNotSendable, match="ya fue enviada"):
        mail.send_proposal(proposal=proposal, force=True)

    assert len(smtp_server.envelopes) == 1


def test_server_down_marks_failed_with_error_then_retry_succeeds(smtp_down, cliente, settings):
    proposal = make_proposal(cliente)

    with pytest.raises(mail.DeliveryFailed, match="No se pudo conectar"):
        mail.send_proposal(proposal=proposal)

    proposal.refresh_from_db()
    assert proposal.status == Proposal.Status.FAILED
    assert "No se pudo conectar" in proposal.error
    assert proposal.failed_at is not None

    from aiosmtpd.controller import Controller

    from crm.tests.mailtools import RecordingHandler

    handler = RecordingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=settings.EMAIL_PORT)
    controller.start()
    try:
        mail.send_proposal(proposal=proposal)
    finally:
        controller.stop()

    proposal.refresh_from_db()
    assert proposal.status == Proposal.Status.SENT
    assert proposal.error == ""
    assert proposal.attempts == 2
    assert len(handler.envelopes) == 1


def test_temporary_refusal_is_retried_once(smtp_server, cliente):
    smtp_server.replies = ["451 4.3.0 Try again later"]

    mail.send_proposal(proposal=make_proposal(cliente), mailer=instant_mailer())

    assert smtp_server.data_commands == 2
    assert len(smtp_server.envelopes) == 1


def test_permanent_refusal_is_not_retried_and_fails(smtp_server, cliente):
    smtp_server.replies = ["550 5.7.1 Message rejected"]
    proposal = make_proposal(cliente)

    with pytest.raises(mail.DeliveryFailed, match="550"):
        mail.send_proposal(proposal=proposal, mailer=instant_mailer())

    assert smtp_server.data_commands == 1
    proposal.refresh_from_db()
    assert proposal.status == Proposal.Status.FAILED
    assert "definitivamente" in proposal.error


def test_newlines_in_subject_and_name_cannot_add_headers(smtp_server, db):
    cliente = make_cliente("Mala Persona", email="mala@example.org")
    # As if stored by a legacy import that bypassed Cliente.save() normalisation.
    Cliente.objects.filter(pk=cliente.pk).update(nombre="Mala\r\nBcc: victima@example.com")
    proposal = make_proposal(cliente, email_subject="Oferta\r\nBcc: otra@example.com\nX-Evil: 1")

    mail.send_proposal(proposal=proposal)

    [envelope] = smtp_server.envelopes
    assert envelope.rcpt_tos == ["mala@example.org"]
    [message] = smtp_server.messages
    assert message["Bcc"] is None
    assert message["X-Evil"] is None
    assert message["Subject"] == "Oferta Bcc: otra@example.com X-Evil: 1"


def test_opted_out_customer_is_refused(smtp_server, cliente):
    cliente.unsubscribe()
    proposal = make_proposal(cliente)

    with pytest.raises(mail.CustomerOptedOut, match="se dio de baja"):
        mail.send_proposal(proposal=proposal, force=True)

    assert smtp_server.envelopes == []
    proposal.refresh_from_db()
    assert proposal.status == Proposal.Status.GENERATED


@pytest.mark.parametrize("email", ["", "no-es-un-email", "a@b"])
def test_customer_without_valid_email_is_refused(smtp_server, db, email):
    cliente = make_cliente("Sin Correo", email=email)

    with pytest.raises(mail.NoValidEmail, match="no tiene un email válido"):
        mail.send_proposal(proposal=make_proposal(cliente))

    assert smtp_server.envelopes == []


def test_frequency_cap_refuses_a_second_proposal_within_the_window(smtp_server, cliente, settings):
    settings.PROPOSAL_MIN_DAYS_BETWEEN = 14
    make_proposal(cliente, status=Proposal.Status.SENT, sent_at=timezone.now() - datetime.timedelta(days=13))

    with pytest.raises(mail.RecentlyContacted) as excinfo:
        mail.send_proposal(proposal=make_proposal(cliente))

    assert excinfo.value.needs_confirmation
    assert smtp_server.envelopes == []


def test_frequency_cap_can_be_overridden_by_staff(smtp_server, cliente):
    make_proposal(cliente, status=Proposal.Status.SENT, sent_at=timezone.now() - datetime.timedelta(days=2))

    mail.send_proposal(proposal=make_proposal(cliente), force=True)

    assert len(smtp_server.envelopes) == 1


def test_frequency_cap_allows_sending_after_the_window(smtp_server, cliente):
    make_proposal(cliente, status=Proposal.Status.SENT, sent_at=timezone.now() - datetime.timedelta(days=15))

    mail.send_proposal(proposal=make_proposal(cliente))

    assert len(smtp_server.envelopes) == 1


def test_unsubscribe_token_is_signed_and_not_guessable(db):
    cliente = make_cliente("Ana Soto")
    token = mail.unsubscribe_token(cliente.pk)

    assert mail.cliente_for_token(token) == cliente
    assert len(token) > 30
    for forged in (str(cliente.pk), f"{cliente.pk}:abc", token[:-1] + ("A" if token[-1] != "A" else "B")):
        with pytest.raises(mail.InvalidUnsubscribeToken):
            mail.cliente_for_token(forged)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_sends_of_one_proposal_deliver_exactly_one_message(smtp_server):
    proposal = make_proposal(make_cliente("Concurrente Uno", email="concurrente@example.org"))
    barrier = threading.Barrier(20)
    outcomes = []

    def send():
        try:
            barrier.wait()
            mail.send_proposal(proposal=Proposal.objects.get(pk=proposal.pk))
            outcomes.append("sent")
        except mail.ProposalNotSendable:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["refused"] * 19 + ["sent"]
    assert len(smtp_server.envelopes) == 1
    proposal.refresh_from_db()
    assert proposal.status == Proposal.Status.SENT
    assert proposal.attempts == 1
