"""Template helpers for the CRM pages: segment badges, percentages and emails that wrap cleanly."""

import re

from django import template
from django.utils.html import conditional_escape
from django.utils.safestring import mark_safe

from crm.services.rfm import Segment, get_segment

register = template.Library()


@register.inclusion_tag("crm/_segment_badge.html")
def segment_badge(segment: Segment | str, scores=None):
    """Badge for a segment (a Segment or its key); with `scores` (an RFMResult) it shows R/F/M too."""
    if isinstance(segment, str):
        segment = get_segment(segment)
    return {"segment": segment, "scores": scores}


@register.filter
def percent(share) -> str:
    """A 0..1 share as Chilean percent text: 0.3456 -> "34,6 %"."""
    return f"{float(share or 0) * 100:.1f}".replace(".", ",") + "\u00a0%"  # no-break space: never wraps


@register.filter
def email_breaks(address) -> str:
    """An email that may wrap only at sensible points: after its dots and dashes and before the @.

    maria.gonzalez@ejemplo-correo.cl -> maria.<wbr>gonzalez<wbr>@ejemplo-<wbr>correo.<wbr>cl (escaped first),
    so a narrow column never cuts or breaks it mid-word.
    """
    text = conditional_escape(address or "")
    text = re.sub(r"([.\-])(?=.)", r"\1<wbr>", text)
    return mark_safe(text.replace("@", "<wbr>@"))  # noqa: S308 (escaped above; only <wbr> added)
