"""Sending a proposal from the customer profile, and the public unsubscribe page."""

from contextlib import nullcontext

from django.contrib import messages
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from crm.services import mail
from crm.services.concurrency import EngineBusy, ai_slot
from crm.services.ratelimit import proposal_rate_limit
from crm.views.access import busy_response, crm_view, wants_json
from ventas.formatting import format_date
from ventas.models import Cliente


def _answer(request, status: int, payload: dict):
    """JSON for the page's script; without JavaScript, a message and back to the profile."""
    if wants_json(request):
        return JsonResponse(payload, status=status)
    if payload.get("ok"):
        sent = f"Propuesta enviada a {payload['sent_to']}."
        messages.success(request, f"{sent} {payload['note']}" if payload["note"] else sent)
    else:
        messages.error(request, payload["error"])
    back = request.POST.get("next", "")
    safe = url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}, require_https=False)
    return redirect(back if safe and back.startswith("/") else "crm_dashboard")


@require_POST
@crm_view("crm.add_proposal")
def enviar_propuesta(request, cliente_id: int):
    raw_id = request.POST.get("proposal_id", "").strip()
    if raw_id and not (raw_id.isascii() and raw_id.isdigit() and len(raw_id) <= 18):
        return _answer(request, 400, {"ok": False, "error": "Propuesta no válida.", "reason": "bad_request"})
    force = request.POST.get("confirmar") in {"1", "on", "true"}
    if not raw_id:
        # Without a proposal to send, one may be generated (an AI call): same per-user limit as "Generar".
        limit = proposal_rate_limit(request.user)
        if not limit.allowed:
            message = f"Demasiadas propuestas generadas en poco tiempo; intenta en {limit.retry_after} segundos."
            return _answer(request, 429, {"ok": False, "error": message, "reason": "rate_limited"})
    try:
        # Without a proposal id the send generates one (an AI call): it takes one of this process's AI slots.
        with ai_slot() if not raw_id else nullcontext():
            proposal = mail.send_to_customer(
                cliente_id=cliente_id, proposal_id=int(raw_id) if raw_id else None, user=request.user, force=force
            )
    except EngineBusy as busy:
        return busy_response(request, busy)
    except Cliente.DoesNotExist:
        return _answer(request, 404, {"ok": False, "error": "El cliente no existe.", "reason": "not_found"})
    except mail.SendRefused as exc:
        payload = {"ok": False, "error": str(exc), "reason": exc.reason, "needs_confirmation": exc.needs_confirmation}
        return _answer(request, 409, payload)
    except mail.DeliveryFailed as exc:
        return _answer(request, 502, {"ok": False, "error": str(exc), "reason": exc.reason})
    except mail.GenerationFailed as exc:
        return _answer(request, exc.status_code, {"ok": False, "error": str(exc), "reason": exc.reason})
    return _answer(
        request,
        200,
        {
            "ok": True,
            "proposal_id": proposal.pk,
            "sent_to": proposal.sent_to,
            "sent_at": proposal.sent_at.isoformat(),
            "sent_at_display": format_date(proposal.sent_at),
            "note": mail.delivery_note(),  # demo: the email was only printed on the server console
        },
    )


# The signed token is the authorization, and RFC 8058 one-click unsubscribes POST without any CSRF token.
@csrf_exempt
@require_http_methods(["GET", "POST"])
def baja(request, token: str):
    """GET only asks for confirmation (mail scanners follow links); POST records the opt-out."""
    try:
        if request.method == "GET":
            cliente = mail.cliente_for_token(token)
        else:
            one_click = request.POST.get("List-Unsubscribe") == "One-Click"  # RFC 8058, from the mail client
            cliente = mail.unsubscribe(token=token, source="one_click" if one_click else "link")
    except mail.InvalidUnsubscribeToken as exc:
        return render(request, "crm/baja.html", {"error": str(exc)}, status=400)
    return render(request, "crm/baja.html", {"cliente": cliente, "done": request.method == "POST"})
