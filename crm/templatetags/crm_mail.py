"""Template helpers for email, campaigns and results pages."""

from django import template

from crm.services import campaigns, mail

register = template.Library()


@register.simple_tag
def send_panel(cliente):
    """`{% send_panel cliente as envio %}`: state of the "Enviar por email" area of the profile (one query)."""
    return mail.send_panel(cliente)


# Segments and the retention audiences of campaigns (AUDIENCES includes every segment).
register.filter("segment_label", campaigns.audience_label)
