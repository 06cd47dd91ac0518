"""Template helpers for email, campaigns and results pages."""

from django import template

from crm.services import mail
from crm.services.rfm import SEGMENTS

register = template.Library()


@register.simple_tag
def send_panel(cliente):
    """`{% send_panel cliente as envio %}`: state of the "Enviar por email" area of the profile (one query)."""
    return mail.send_panel(cliente)


@register.filter
def segment_label(key: str) -> str:
    """ "at_risk" -> "En riesgo"; unknown keys are shown as they are."""
    segment = SEGMENTS.get(key)
    return segment.label if segment else key
