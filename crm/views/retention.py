"""Retention: KPIs with their definitions, overdue customers, and who moved between segments."""

from django import forms
from django.shortcuts import render

from crm.services.csv_export import DEFAULT_SEPARATOR, SEPARATOR_CHOICES, SEPARATOR_ERROR, csv_response
from crm.services.pagination import paginate
from crm.services.retention import report
from crm.services.rfm import SEGMENTS
from crm.views.access import crm_view

PER_PAGE = 25


class CsvForm(forms.Form):
    csv = forms.ChoiceField(
        required=False,
        choices=[("", "")] + [(name, name) for name in sorted(report.CSV_TABLES)],
        error_messages={"invalid_choice": "Las tablas que se pueden descargar son: cohortes, conversion y recompra."},
    )
    sep = forms.ChoiceField(
        required=False, choices=SEPARATOR_CHOICES, error_messages={"invalid_choice": SEPARATOR_ERROR}
    )


@crm_view("crm.view_campaign")
def retencion(request):
    form = CsvForm(request.GET)
    if not form.is_valid():
        return render(request, "crm/retencion.html", {"nav": "retencion", "form": form}, status=400)
    if table := form.cleaned_data["csv"]:
        response = csv_response(f"retencion-{table}.csv")
        report.write_csv(table, response, sep=form.cleaned_data["sep"] or DEFAULT_SEPARATOR)
        return response
    return render(request, "crm/retencion.html", {"nav": "retencion", "report": report.retention_report()})


@crm_view("crm.view_campaign")
def atrasados(request):
    page = paginate(report.overdue_list(), request.GET.get("page", 1), PER_PAGE)
    return render(request, "crm/retencion_atrasados.html", {"nav": "retencion", "page": page})


SEGMENT_CHOICES = [(key, segment.label) for key, segment in SEGMENTS.items()]


class MovementForm(forms.Form):
    de = forms.ChoiceField(
        choices=[("valiosos", "VIP, Campeones o Leales"), *SEGMENT_CHOICES],
        error_messages={"required": "Indica el segmento de origen.", "invalid_choice": "Ese segmento no existe."},
    )
    a = forms.ChoiceField(
        choices=SEGMENT_CHOICES,
        error_messages={"required": "Indica el segmento de destino.", "invalid_choice": "Ese segmento no existe."},
    )


@crm_view("crm.view_campaign")
def movimiento(request):
    form = MovementForm(request.GET)
    if not form.is_valid():
        return render(request, "crm/retencion_movimiento.html", {"nav": "retencion", "form": form}, status=400)
    source, target = form.cleaned_data["de"], form.cleaned_data["a"]
    page = paginate(report.movement_list(source, target), request.GET.get("page", 1), PER_PAGE)
    context = {
        "nav": "retencion",
        "form": form,
        "page": page,
        "source_label": dict(form.fields["de"].choices)[source],
        "target_label": SEGMENTS[target].label,
    }
    return render(request, "crm/retencion_movimiento.html", context)
