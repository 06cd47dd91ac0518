"""Ids are identifiers, not quantities: with the thousands separator on (26.158) an id of 1234 must still be
written 1234 in forms, anchors and links, or the form posts "1.234" and the anchor misses its row."""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

from crm.models import Proposal
from crm.tests.builders import make_cliente, make_service
from crm.tests.mailtools import make_proposal

# `{{ x.pk }}`, `{{ x.id }}`, `{{ x.campaign_id }}`… printed without |unlocalize (reserva_id is a text code).
BARE_ID = re.compile(r"\{\{\s*([\w.]*(?:\.pk|\.id|_id))\s*\}\}")
NOT_NUMBERS = {"chart_id"}


def test_no_template_prints_an_id_through_the_number_format():
    offenders = []
    for path in Path(settings.BASE_DIR, "templates").rglob("*.html"):
        for match in BARE_ID.finditer(path.read_text(encoding="utf-8")):
            name = match.group(1)
            if name not in NOT_NUMBERS and not name.endswith("reserva_id"):
                offenders.append(f"{path.relative_to(settings.BASE_DIR)}: {match.group(0)}")
    assert not offenders, "write ids with |unlocalize (load l10n):\n" + "\n".join(offenders)


@pytest.mark.django_db
def test_the_profile_send_form_posts_a_four_digit_proposal_id_as_digits(staff_client):
    make_service()
    cliente = make_cliente("Ignacio Prueba", email="ignacio@example.org")
    proposal = make_proposal(cliente)
    Proposal.objects.filter(pk=proposal.pk).update(id=1234)
    html = staff_client.get(reverse("cliente_detalle", args=[cliente.pk])).content.decode()
    assert 'name="proposal_id" value="1234"' in html
