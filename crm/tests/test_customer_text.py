"""Customer-facing text (the proposal emails and the public unsubscribe page) is Spanish, in usted, and never
shows the statistics staff read in the CRM."""

import datetime
import re

import pytest
from django.test import Client
from django.urls import reverse
from django.utils.html import strip_tags

from crm.services import mail
from crm.services.proposals import generate_proposal
from crm.services.proposals.local import OFFERS, segment_offer
from crm.services.proposals.schema import Draft, Recommendation
from crm.services.proposals.service import render_email
from crm.tests.proposal_fixtures import AS_OF, catalogue_fixture, cliente, community_fixture, visit  # noqa: F401

pytestmark = pytest.mark.django_db

# Whole words only: "tu" inside "virtual" or "te" inside "caliente" are not tú forms.
TU_FORMS = [
    "tú", "te", "tu", "tus", "ti", "contigo", "puedes", "quieres", "tienes", "eres", "estás", "haz", "escribe",
    "escríbenos", "responde", "respóndenos", "llámanos", "darte", "enviarte", "recibes", "deseas", "disfrutes",
]  # fmt: skip
ENGLISH = [
    "upgrade", "champions", "loyal", "promising", "hibernating", "occasional", "the", "and", "your", "you",
    "offer", "click", "here", "unsubscribe", "free", "discount", "best", "customers", "none", "null", "true",
    "false", "at_risk", "no_history",
]  # fmt: skip
STAFF_EVIDENCE = [r"\d+\s?%(?! de descuento)", r"\breservas\b", r"Quienes toman", r"veces más", r"de sus servicios"]


def forbidden_words(text: str) -> list[str]:
    words = set(re.findall(r"[\wáéíóúñü]+", text.lower()))
    return sorted(words & (set(TU_FORMS) | set(ENGLISH)))


def staff_evidence(text: str) -> list[str]:
    return [pattern for pattern in STAFF_EVIDENCE if re.search(pattern, text)]


def test_the_word_scan_matches_whole_words_only():
    assert forbidden_words("Le esperamos con agua caliente, virtual y tuyo") == []
    assert forbidden_words("Te esperamos; escríbenos si puedes. Upgrade!") == ["escríbenos", "puedes", "te", "upgrade"]


def _visits(customer, *, count, first_days_ago, step, names, price=25_000):
    for index in range(count):
        visit(customer, AS_OF - datetime.timedelta(days=first_days_ago + index * step), *names, price=price)


CUSTOMERS = {
    "at_risk": {"count": 6, "first_days_ago": 400, "step": 30, "names": ("Tina Calbuco",)},
    "promising": {"count": 1, "first_days_ago": 20, "step": 30, "names": ("Tina Calbuco",)},
    "vip": {"count": 10, "first_days_ago": 5, "step": 7, "names": ("Cabaña Torre",), "price": 120_000},
    "co_occurrence": {"count": 1, "first_days_ago": 10, "step": 30, "names": ("Tina Calbuco",)},
    "newcomer": None,
}


@pytest.mark.parametrize("shape", CUSTOMERS)
def test_generated_emails_are_spanish_usted_without_statistics(community, shape):
    customer = cliente()
    if CUSTOMERS[shape]:
        _visits(customer, **CUSTOMERS[shape])

    proposal = generate_proposal(cliente=customer, as_of=AS_OF)

    for text in (proposal.email_subject, strip_tags(proposal.email_body), proposal.email_text):
        assert forbidden_words(text) == [], (shape, text)
        assert staff_evidence(text) == [], (shape, text)
    # Staff keep the evidence in the CRM.
    assert all(item["reason"] and item["customer_reason"] for item in proposal.recommendations)


def test_co_occurrence_evidence_stays_with_staff_and_the_email_words_it_for_the_customer(community):
    customer = cliente()
    visit(customer, AS_OF - datetime.timedelta(days=10), "Tina Calbuco")

    proposal = generate_proposal(cliente=customer, as_of=AS_OF)

    masaje = next(item for item in proposal.recommendations if item["service_name"] == "Masaje Relajación")
    assert re.search(r"\d+%", masaje["reason"])
    assert masaje["customer_reason"] == "Combina muy bien con Tina Calbuco, que usted ya conoce."
    assert masaje["customer_reason"] in proposal.email_text
    assert masaje["reason"] not in proposal.email_text


@pytest.mark.parametrize("segment", OFFERS)
def test_every_segment_offer_email_is_spanish_usted(segment, db):
    recommendation = Recommendation(
        service_id=1,
        service_name="Tina Tronador",
        category="Tinas",
        reason="De los más elegidos por nuestros clientes: 4.029 reservas",
        confidence=0.2,
        estimated_price=25_000,
        customer_reason="Uno de los favoritos de nuestros clientes.",
    )
    offer = segment_offer(segment, [recommendation], max_discount=20)
    draft = Draft(insights={}, recommendations=[recommendation], offer=offer)
    as_dict = {
        "title": offer.title,
        "description": offer.description,
        "discount": offer.discount,
        "valid_until": "2026-12-31",
        "code": "AREMKO-TEST",
    }

    subject, html, text = render_email(cliente=cliente("Valentina Prueba"), draft=draft, offer=as_dict)

    assert f"{offer.discount}% de descuento en Tina Tronador" in offer.description
    for part in (subject, strip_tags(html), text):
        assert forbidden_words(part) == [], (segment, part)
        assert staff_evidence(part) == [], (segment, part)


def test_unsubscribe_page_is_usted_without_the_internal_crm_frame(db):
    customer = cliente("Camila Prueba")
    url = reverse("crm_baja", args=[mail.unsubscribe_token(customer.pk)])
    browser = Client()

    pages = [
        browser.get(url),  # asks
        browser.post(url),  # done
        browser.get(url),  # already unsubscribed
        browser.get(reverse("crm_baja", args=["no-es-un-token"])),  # bad link
    ]

    for response in pages:
        body = response.content.decode()
        visible = strip_tags(body)
        assert "CRM" not in visible
        assert forbidden_words(visible) == [], visible
        assert 'class="nav"' not in body
