from django import forms
from django.shortcuts import render

from crm.services.rfm import SEGMENTS
from crm.services.search import MAX_QUERY_LENGTH, MIN_QUERY_LENGTH, search_customers
from crm.views.access import crm_view


class SearchForm(forms.Form):
    # No max_length: longer input is truncated by the service rather than rejected.
    q = forms.CharField(label="Buscar cliente", required=False)
    segmento = forms.ChoiceField(
        label="Segmento",
        required=False,
        choices=[("", "Todos los segmentos"), *((key, segment.label) for key, segment in SEGMENTS.items())],
        error_messages={"invalid_choice": "Ese segmento no existe. Elige uno de la lista."},
    )
    atrasados = forms.BooleanField(label="Solo atrasados según su ritmo", required=False)


@crm_view("ventas.view_cliente")
def crm_buscar(request):
    form = SearchForm(request.GET)
    context = {"nav": "buscar", "form": form, "min_length": MIN_QUERY_LENGTH, "max_length": MAX_QUERY_LENGTH}
    if not form.is_valid():
        return render(request, "crm/buscar.html", context, status=400)
    context["result"] = search_customers(
        query=form.cleaned_data["q"],
        segment_key=form.cleaned_data["segmento"],
        page_number=request.GET.get("page", 1),
        overdue=form.cleaned_data["atrasados"],
    )
    return render(request, "crm/buscar.html", context)
