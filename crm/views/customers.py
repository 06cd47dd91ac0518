from django import forms
from django.http import Http404
from django.shortcuts import get_object_or_404, render

from crm.services.csv_export import DEFAULT_SEPARATOR, SEPARATOR_CHOICES, SEPARATOR_ERROR, csv_response
from crm.services.customers import HistoryFilters, customer_360, filtered_history, history_page, write_history_csv
from crm.services.privacy.access_log import Action, log_access
from crm.services.retention.profile import retention_profile
from crm.views.access import crm_view
from ventas.models import Cliente


@crm_view("ventas.view_cliente")
def cliente_detalle(request, cliente_id):
    try:
        perfil = customer_360(cliente_id)
    except Cliente.DoesNotExist:
        raise Http404("No existe un cliente con ese número.") from None
    log_access(request, perfil.cliente.pk, Action.PROFILE)
    return render(
        request,
        "crm/cliente_detalle.html",
        {
            "nav": "buscar",
            "perfil": perfil,
            "cliente": perfil.cliente,
            "rfm": perfil.rfm,
            "retencion": retention_profile(perfil.cliente),
        },
    )


class HistoryFilterForm(forms.Form):
    categoria = forms.CharField(label="Categoría", required=False, max_length=100)
    anio = forms.IntegerField(
        label="Año",
        required=False,
        min_value=1900,
        max_value=2100,
        error_messages={"invalid": "El año debe ser un número, por ejemplo 2025."},
    )
    formato = forms.ChoiceField(
        required=False,
        choices=[("", "Página"), ("csv", "CSV")],
        error_messages={"invalid_choice": "El único formato de descarga es CSV."},
    )
    sep = forms.ChoiceField(
        required=False, choices=SEPARATOR_CHOICES, error_messages={"invalid_choice": SEPARATOR_ERROR}
    )


@crm_view("ventas.view_cliente")
def historial_servicios(request, cliente_id):
    cliente = get_object_or_404(Cliente, pk=cliente_id)
    log_access(request, cliente.pk, Action.HISTORY)
    form = HistoryFilterForm(request.GET)
    if not form.is_valid():
        context = {"nav": "buscar", "cliente": cliente, "form": form}
        return render(request, "crm/historial.html", context, status=400)
    filters = HistoryFilters(category=form.cleaned_data["categoria"], year=form.cleaned_data["anio"])

    if form.cleaned_data["formato"] == "csv":
        response = csv_response(f"historial-cliente-{cliente.pk}.csv")
        sep = form.cleaned_data["sep"] or DEFAULT_SEPARATOR
        write_history_csv(filtered_history(cliente.pk, filters), response, sep)
        return response

    historial = history_page(cliente, filters, request.GET.get("page", 1))
    context = {"nav": "buscar", "cliente": cliente, "form": form, "historial": historial}
    return render(request, "crm/historial.html", context)
