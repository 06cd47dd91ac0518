"""Template helpers for email, campaigns and results pages."""

from django import template

from crm.services import mail, rfm

register = template.Library()


@register.simple_tag
def send_panel(cliente):
    """`{% send_panel cliente as envio %}`: state of the "Enviar por email" area of the profile (one query)."""
    return mail.send_panel(cliente)


register.filter("segment_label", rfm.segment_label)
