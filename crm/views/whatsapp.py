"""The daily WhatsApp tray: the day's list by tier, click-to-chat links, and one-click outcomes.

Access: Recepción and Marketing (`crm.add_proposal`), through `crm_view`.
"""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from crm.models import TrayItem
from crm.services.privacy.access_log import Action, log_access, log_access_many
from crm.services.whatsapp import WhatsAppError, cloud_api, record_outcome, tray_page
from crm.services.whatsapp.messages import wa_link
from crm.services.whatsapp.tiers import TIERS
from crm.views.access import crm_view
from ventas.formatting import format_date


class DayForm(forms.Form):
    fecha = forms.DateField(
        required=False,
        input_formats=["%Y-%m-%d", *settings.DATE_INPUT_FORMATS],
        error_messages={"invalid": "Escribe la fecha como 2026-11-25 o 25-11-2026."},
    )


class OpenForm(forms.Form):
    mensaje = forms.CharField(
        max_length=2000,
        strip=True,
        error_messages={"required": "El mensaje está vacío.", "max_length": "El mensaje es demasiado largo."},
    )


def _tray_url(day, item_id=None) -> str:
    url = f"{reverse('crm_bandeja')}?fecha={day.isoformat()}"
    return f"{url}#item-{item_id}" if item_id else url


@require_GET
@crm_view("crm.add_proposal")
def bandeja(request):
    form = DayForm(request.GET)
    if not form.is_valid():
        context = {"nav": "bandeja", "form": form, "rules": TIERS, "holdout_share": settings.WHATSAPP_HOLDOUT_SHARE}
        return render(request, "crm/bandeja.html", context, status=400)
    today = timezone.localdate()
    day = form.cleaned_data["fecha"] or today
    page = tray_page(day)
    # The tray shows each customer's name, phone and history: who looked at whom goes to the access log.
    log_access_many(request, (item.cliente_id for group in page.groups for item in group.items), Action.TRAY)
    context = {
        "nav": "bandeja",
        "form": form,
        "page": page,
        "day": day,
        "is_today": day == today,
        "cloud_api": cloud_api.enabled(),
        "holdout_share": settings.WHATSAPP_HOLDOUT_SHARE,
        "rules": TIERS,
        "outcomes": [(value, label) for value, label in TrayItem.Outcome.choices if value != TrayItem.Outcome.LATER],
    }
    return render(request, "crm/bandeja.html", context)


@require_POST
@crm_view("crm.add_proposal")
def bandeja_resultado(request, item_id: int):
    try:
        item = record_outcome(
            item_id=item_id,
            outcome=request.POST.get("resultado", ""),
            user=request.user,
            message=request.POST.get("mensaje", ""),
        )
    except WhatsAppError as error:
        return render(request, "crm/bandeja_error.html", {"nav": "bandeja", "error": str(error)}, status=400)
    text = f"{item.cliente.nombre}: {item.get_outcome_display().lower()}."
    if item.outcome == TrayItem.Outcome.LATER:
        until = format_date(item.cliente.contacto_whatsapp.snoozed_until)
        text = f"{item.cliente.nombre}: más adelante; no vuelve a la bandeja hasta el {until}."
    messages.success(request, text)
    return HttpResponseRedirect(_tray_url(item.tray.day, item.pk))


@require_GET
@crm_view("crm.add_proposal")
def bandeja_abrir(request, item_id: int):
    """Without JavaScript: open the chat with the message as edited in the page."""
    item = TrayItem.objects.select_related("cliente").filter(pk=item_id, holdout=False).first()
    form = OpenForm(request.GET)
    if item is None or not form.is_valid():
        error = "Ese cliente no está en la bandeja." if item is None else form.errors["mensaje"][0]
        return render(request, "crm/bandeja_error.html", {"nav": "bandeja", "error": error}, status=400)
    log_access(request, item.cliente_id, Action.TRAY)
    return HttpResponseRedirect(wa_link(item.cliente.telefono, form.cleaned_data["mensaje"]))


@require_POST
@crm_view("crm.add_proposal")
def bandeja_enviar(request, item_id: int):
    """WHATSAPP_BACKEND=cloud_api: the operator approves this message and it goes out through the API."""
    try:
        item = cloud_api.approve_and_send(item_id=item_id, user=request.user, message=request.POST.get("mensaje", ""))
    except WhatsAppError as error:
        return render(request, "crm/bandeja_error.html", {"nav": "bandeja", "error": str(error)}, status=400)
    messages.success(request, f"Mensaje enviado por la API de WhatsApp a {item.cliente.nombre}.")
    return HttpResponseRedirect(_tray_url(item.tray.day, item.pk))
