"""Template helpers for the "Datos personales" panel of the customer profile."""

from django import template

from crm.services.privacy.consent import consent_overview

register = template.Library()


@register.simple_tag
def privacy_panel(cliente):
    """`{% privacy_panel cliente as privacidad %}`: consent state and latest events (one query)."""
    return consent_overview(cliente)
