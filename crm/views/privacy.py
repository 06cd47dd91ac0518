"""Ley 21.719 on the customer profile: rights console (export, erasure, block, objection), consent, and the
art. 8 bis explanation. Views parse, check the permission, call `crm.services.privacy`, and answer.

Rights actions need `crm.change_datarequest` (the "Administración" role); recording a consent change is open
to all staff, because customers ask for it at reception.
"""

import tempfile

from django import forms
from django.contrib import messages
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from crm.models import DataRequest
from crm.services.privacy.access_log import Action, log_access
from crm.services.privacy.consent import record_consent
from crm.services.privacy.erasure import erase_customer
from crm.services.privacy.explanation import explain_profiling
from crm.services.privacy.export import write_customer_export
from crm.services.privacy.requests import PrivacyError, record_request
from crm.services.privacy.restriction import set_restriction
from crm.views.access import crm_view
from ventas.models import Cliente, ConsentEvent

RIGHTS_PERMISSION = "crm.change_datarequest"
SPOOL_BYTES = 8 * 1024 * 1024  # exports larger than this spill to a temporary file


def _cliente(cliente_id: int) -> Cliente:
    try:
        return Cliente.objects.get(pk=cliente_id)
    except Cliente.DoesNotExist:
        raise Http404("No existe un cliente con ese número.") from None


def _refuse(request, cliente, message: str, status: int = 400):
    context = {"nav": "buscar", "cliente": cliente, "message": message}
    return render(request, "crm/privacidad_error.html", context, status=status)


def _first_error(form: forms.Form) -> str:
    return next(iter(form.errors.values()))[0]


class ExportForm(forms.Form):
    tipo = forms.ChoiceField(
        choices=[(DataRequest.Kind.ACCESS, "Acceso"), (DataRequest.Kind.PORTABILITY, "Portabilidad")],
        error_messages={
            "required": "Indica si es acceso o portabilidad.",
            "invalid_choice": "Tipo de solicitud no válido.",
        },
    )


@require_POST
@crm_view(RIGHTS_PERMISSION)
def exportar(request, cliente_id: int):
    cliente = _cliente(cliente_id)
    form = ExportForm(request.POST)
    if not form.is_valid():
        return _refuse(request, cliente, _first_error(form))
    archive = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 FileResponse closes it
    write_customer_export(cliente_id=cliente.pk, out=archive)
    archive.seek(0)
    record_request(
        cliente_id=cliente.pk,
        kind=form.cleaned_data["tipo"],
        user=request.user,
        outcome="Se entregó el archivo ZIP con todos los datos (JSON y CSV).",
    )
    log_access(request, cliente.pk, Action.EXPORT)
    return FileResponse(archive, as_attachment=True, filename=f"datos-cliente-{cliente.pk}.zip")


class EraseForm(forms.Form):
    confirmar = forms.BooleanField(
        error_messages={"required": "Marca la casilla para confirmar: la eliminación no se puede deshacer."}
    )


@require_http_methods(["GET", "POST"])
@crm_view(RIGHTS_PERMISSION)
def eliminar(request, cliente_id: int):
    cliente = _cliente(cliente_id)
    form = EraseForm(request.POST or None)
    if request.method == "GET":
        return render(request, "crm/privacidad_eliminar.html", {"nav": "buscar", "cliente": cliente, "form": form})
    if not form.is_valid():
        context = {"nav": "buscar", "cliente": cliente, "form": form}
        return render(request, "crm/privacidad_eliminar.html", context, status=400)
    try:
        result = erase_customer(cliente_id=cliente.pk, user=request.user)
    except PrivacyError as exc:
        return _refuse(request, cliente, str(exc), exc.status_code)
    messages.success(request, result.summary())
    return redirect("cliente_detalle", cliente_id=cliente.pk)


class RestrictionForm(forms.Form):
    tipo = forms.ChoiceField(
        choices=[(DataRequest.Kind.BLOCK, "Bloqueo"), (DataRequest.Kind.OBJECTION, "Oposición")],
        error_messages={"required": "Indica bloqueo u oposición.", "invalid_choice": "Elige bloqueo u oposición."},
    )
    accion = forms.ChoiceField(
        choices=[("activar", "Activar"), ("levantar", "Levantar")],
        error_messages={"required": "Indica si activar o levantar.", "invalid_choice": "Acción no válida."},
    )


@require_POST
@crm_view(RIGHTS_PERMISSION)
def restriccion(request, cliente_id: int):
    cliente = _cliente(cliente_id)
    form = RestrictionForm(request.POST)
    if not form.is_valid():
        return _refuse(request, cliente, _first_error(form))
    active = form.cleaned_data["accion"] == "activar"
    try:
        set_restriction(cliente_id=cliente.pk, kind=form.cleaned_data["tipo"], active=active, user=request.user)
    except PrivacyError as exc:
        return _refuse(request, cliente, str(exc), exc.status_code)
    label = "Bloqueo temporal" if form.cleaned_data["tipo"] == DataRequest.Kind.BLOCK else "Oposición al perfilamiento"
    messages.success(request, f"{label} {'registrado' if active else 'levantado'}.")
    return redirect("cliente_detalle", cliente_id=cliente.pk)


class ConsentForm(forms.Form):
    canal = forms.ChoiceField(
        choices=ConsentEvent.Channel.choices,
        error_messages={"required": "Indica el canal.", "invalid_choice": "Canal desconocido: elige email o WhatsApp."},
    )
    accion = forms.ChoiceField(
        choices=[("otorgar", "Otorgar"), ("retirar", "Retirar")],
        error_messages={"required": "Indica si otorga o retira.", "invalid_choice": "Acción no válida."},
    )


@require_POST
@crm_view("ventas.add_consentevent")
def consentimiento(request, cliente_id: int):
    cliente = _cliente(cliente_id)
    form = ConsentForm(request.POST)
    if not form.is_valid():
        return _refuse(request, cliente, _first_error(form))
    granted = form.cleaned_data["accion"] == "otorgar"
    event = record_consent(
        cliente=cliente,
        channel=form.cleaned_data["canal"],
        granted=granted,
        source=ConsentEvent.Source.STAFF,
        user=request.user,
    )
    channel = ConsentEvent.Channel(form.cleaned_data["canal"]).label
    if event is None:
        messages.info(request, f"El consentimiento por {channel} ya estaba así: no se registró nada.")
    else:
        messages.success(request, f"Consentimiento por {channel} {'otorgado' if granted else 'retirado'}.")
    return redirect("cliente_detalle", cliente_id=cliente.pk)


@require_GET
@crm_view("ventas.view_cliente")
def explicacion(request, cliente_id: int):
    cliente = get_object_or_404(Cliente, pk=cliente_id)
    log_access(request, cliente.pk, Action.EXPLANATION)
    explanation = explain_profiling(cliente_id=cliente.pk, cliente=cliente)
    context = {"nav": "buscar", "cliente": cliente, "explicacion": explanation}
    return render(request, "crm/privacidad_explicacion.html", context)
