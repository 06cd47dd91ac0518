"""Proposal results: the list with filters, and figures per segment and per campaign."""

import re

from django import forms
from django.conf import settings
from django.shortcuts import render
from django.views.decorators.http import require_GET

from crm.models import Campaign, Proposal
from crm.services import results
from crm.services.pagination import paginate
from crm.services.retention.campaign_effect import campaign_effect
from crm.services.rfm import SEGMENTS
from crm.services.whatsapp.results import whatsapp_results
from crm.views.access import crm_view

DATE_SHAPE = re.compile(r"^\s*(\d{1,2}[-/]\d{1,2}[-/]\d{4}|\d{4}-\d{1,2}-\d{1,2})\s*$")


class DateInput(forms.DateField):
    """A dd-mm-aaaa date; a date written in that shape that is not on the calendar (31-02-2026) says so."""

    def to_python(self, value):
        try:
            return super().to_python(value)
        except forms.ValidationError:
            if isinstance(value, str) and DATE_SHAPE.match(value):
                raise forms.ValidationError(f"La fecha {value.strip()} no existe.", code="nonexistent") from None
            raise


class ResultsFilterForm(forms.Form):
    estado = forms.ChoiceField(
        label="Estado",
        required=False,
        choices=[("", "Todos"), *Proposal.Status.choices],
        error_messages={"invalid_choice": "Elige un estado de la lista."},
    )
    segmento = forms.ChoiceField(
        label="Segmento",
        required=False,
        choices=[("", "Todos"), *((key, segment.label) for key, segment in SEGMENTS.items())],
        error_messages={"invalid_choice": "Elige un segmento de la lista."},
    )
    motor = forms.ChoiceField(
        label="Motor",
        required=False,
        choices=[("", "Todos"), *Proposal.Backend.choices],
        error_messages={"invalid_choice": "Elige un motor de la lista."},
    )
    desde = DateInput(
        label="Desde (dd-mm-aaaa)",
        required=False,
        input_formats=settings.DATE_INPUT_FORMATS,
        error_messages={"invalid": "Escribe la fecha como 26-10-2025."},
    )
    hasta = DateInput(
        label="Hasta (dd-mm-aaaa)",
        required=False,
        input_formats=settings.DATE_INPUT_FORMATS,
        error_messages={"invalid": "Escribe la fecha como 26-10-2025."},
    )
    campana = forms.IntegerField(
        label="Campaña",
        required=False,
        min_value=1,
        widget=forms.HiddenInput,
        error_messages={"invalid": "Campaña no válida."},
    )

    def clean(self):
        data = super().clean()
        if data.get("desde") and data.get("hasta") and data["desde"] > data["hasta"]:
            raise forms.ValidationError("La fecha «desde» no puede ser posterior a «hasta».")
        return data

    def filters(self) -> results.ProposalFilters:
        data = self.cleaned_data
        return results.ProposalFilters(
            status=data["estado"],
            segment=data["segmento"],
            backend=data["motor"],
            date_from=data["desde"],
            date_to=data["hasta"],
            campaign_id=data["campana"],
        )


def _campaign_effect(campaign_id: int | None):
    """The chosen campaign against its control group (results filtered by one campaign)."""
    campaign = Campaign.objects.filter(pk=campaign_id).first() if campaign_id else None
    return campaign_effect(campaign) if campaign else None


@require_GET
@crm_view("crm.view_campaign")
def propuestas(request):
    form = ResultsFilterForm(request.GET)
    if not form.is_valid():
        return render(
            request,
            "crm/propuestas.html",
            {"nav": "propuestas", "form": form, "conversion_days": settings.PROPOSAL_CONVERSION_DAYS},
            status=400,
        )
    proposals = results.filtered_proposals(form.filters())
    listing = proposals.select_related("cliente").defer(
        "customer_profile", "insights", "recommendations", "input_snapshot", "email_body", "email_text"
    )
    by_segment = results.results_by_segment(proposals)
    context = {
        "nav": "propuestas",
        "form": form,
        "page": paginate(listing, request.GET.get("page", 1), 50, count_queryset=proposals),
        "by_segment": by_segment,
        "by_campaign": results.results_by_campaign(proposals),
        "totals": results.totals(by_segment),
        "conversion_days": settings.PROPOSAL_CONVERSION_DAYS,
        "whatsapp": whatsapp_results(),
        "effect": _campaign_effect(form.cleaned_data["campana"]),
    }
    return render(request, "crm/propuestas.html", context)
