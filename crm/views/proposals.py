"""Generate a proposal from the customer profile, and preview what the customer would receive."""

import logging
from datetime import date

from csp.decorators import csp
from django.contrib import messages
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_GET, require_POST

from crm.models import Proposal
from crm.services import mail
from crm.services.concurrency import EngineBusy, ai_slot
from crm.services.privacy.access_log import Action, log_access
from crm.services.proposals import UNSUBSCRIBE_MARKER, ProposalError, generate_proposal
from crm.services.ratelimit import proposal_rate_limit
from crm.services.recommender.confidence import LEGEND, recommendations_for_staff
from crm.views.access import busy_response, crm_view, json_error, wants_json
from ventas.formatting import format_clp, format_date
from ventas.models import Cliente

logger = logging.getLogger(__name__)


def _error(request, status: int, message: str, cliente_id: int | None = None, **headers):
    """JSON for the page's script; a plain form gets the message on the preview page, or the 404 page."""
    if wants_json(request):
        response = json_error(status, message)
    elif status == 404 or cliente_id is None:
        raise Http404(message)
    else:
        messages.error(request, message)
        response = redirect("propuesta_preview", cliente_id=cliente_id)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def proposal_json(proposal: Proposal) -> dict:
    recommendations = []
    for item in recommendations_for_staff(proposal.recommendations):
        view = item.pop("confidence_view")
        recommendations.append(
            {**item, "price_display": format_clp(item["estimated_price"]), "confidence_display": view.as_dict()}
        )
    offer = dict(proposal.offer)
    if offer.get("valid_until"):
        offer["valid_until_display"] = format_date(date.fromisoformat(offer["valid_until"]))
    return {
        "ok": True,
        "proposal_id": proposal.pk,
        "customer_profile": proposal.customer_profile,
        "insights": proposal.insights,
        "recommendations": recommendations,
        "confidence_legend": LEGEND,
        "offer": offer,
        "email_subject": proposal.email_subject,
        "email_body": proposal.email_body,
        "email_text": mail.preview_text(proposal),
        "backend": proposal.backend,
        "backend_label": proposal.get_backend_display(),
        "email_url": reverse("propuesta_email", args=[proposal.pk]),
        "preview_url": reverse("propuesta_preview", args=[proposal.cliente_id]),
    }


@require_POST
@crm_view("crm.add_proposal")
def generar_propuesta(request, cliente_id: int):
    limit = proposal_rate_limit(request.user)
    if not limit.allowed:
        message = f"Demasiadas propuestas seguidas: espera {limit.retry_after} segundos e inténtalo de nuevo."
        return _error(request, 429, message, cliente_id, Retry_After=str(limit.retry_after))
    cliente = Cliente.objects.filter(pk=cliente_id).first()
    if cliente is None:
        return _error(request, 404, "El cliente no existe.")
    try:
        with ai_slot():
            proposal = generate_proposal(cliente=cliente, user=request.user)
    except EngineBusy as busy:
        return busy_response(request, busy)
    except ProposalError as error:
        logger.warning(
            "proposal for cliente %s by %s failed: %s %s", cliente_id, request.user.pk, error.message, error.detail
        )
        return _error(request, error.status_code, error.message, cliente_id)
    if not wants_json(request):
        messages.success(request, f"Propuesta {proposal.offer_code} generada.")
        return redirect("propuesta_preview", cliente_id=cliente_id)
    return JsonResponse(proposal_json(proposal))


@require_GET
@crm_view("ventas.view_cliente")
def propuesta_preview(request, cliente_id: int):
    cliente = get_object_or_404(Cliente, pk=cliente_id)
    log_access(request, cliente.pk, Action.PREVIEW)
    history = list(
        Proposal.objects.filter(cliente=cliente)
        .select_related("created_by")
        .only(
            "id",
            "cliente_id",
            "created_at",
            "created_by__username",
            "segment",
            "backend",
            "status",
            "offer_code",
            "email_subject",
            "email_text",
            "sent_at",
            "recommendations",
        )[:50]
    )
    selected = request.GET.get("propuesta", "")
    proposal = next((item for item in history if str(item.pk) == selected), history[0] if history else None)
    context = {
        "nav": "buscar",
        "cliente": cliente,
        "proposal": proposal,
        "email_text": mail.preview_text(proposal) if proposal else "",
        "recommendations": recommendations_for_staff(proposal.recommendations) if proposal else [],
        "confidence_legend": LEGEND,
        "history": history,
    }
    return render(request, "crm/propuesta_preview.html", context)


# The email as the customer will see it, inside the preview's sandboxed iframe: inline styles (email clients
# need them) but no script, no remote images or fonts, no forms, and a sandbox even when opened directly.
EMAIL_POLICY = {
    "default-src": ["'none'"],
    "style-src": ["'unsafe-inline'"],
    "img-src": ["data:"],
    "frame-ancestors": ["'self'"],
    "form-action": ["'none'"],
    "base-uri": ["'none'"],
    "sandbox": True,
}


@require_GET
@crm_view("ventas.view_cliente")
@xframe_options_sameorigin  # older browsers ignore CSP frame-ancestors; the preview page frames this view
@csp(EMAIL_POLICY)
def propuesta_email(request, proposal_id: int):
    proposal = get_object_or_404(Proposal.objects.only("email_body"), pk=proposal_id)
    response = HttpResponse(
        proposal.email_body.replace(UNSUBSCRIBE_MARKER, "#"), content_type="text/html; charset=utf-8"
    )
    response["X-Robots-Tag"] = "noindex"
    return response
