"""Template helpers for the CRM pages: segment badges and percentages."""

from django import template

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
