"""Campaign pages: choose a segment, preview, start, review, approve and watch the progress."""

from django import forms
from django.conf import settings
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_POST

from crm.models import Campaign, CampaignRecipient
from crm.services import campaigns, mail
from crm.services.pagination import paginate
from crm.services.proposals.schema import UNSUBSCRIBE_MARKER, sanitize_html
from crm.services.recommender.confidence import LEGEND, recommendations_for_staff
from crm.services.retention.campaign_effect import campaign_effect
from crm.services.rfm import SEGMENTS
from crm.views.access import crm_view


class CampaignForm(forms.Form):
    segmento = forms.ChoiceField(
        label="Segmento",
        choices=list(campaigns.AUDIENCES.items()),
        error_messages={"required": "Elige un segmento.", "invalid_choice": "Elige un segmento de la lista."},
    )
    limite = forms.IntegerField(
        label="Máximo de clientes (opcional)",
        required=False,
        min_value=1,
        max_value=100_000,
        error_messages={"invalid": "El máximo debe ser un número entero, por ejemplo 100."},
    )
    sin_contacto_dias = forms.IntegerField(
        label="Solo clientes sin propuesta en los últimos N días (opcional)",
        required=False,
        min_value=1,
        max_value=3650,
        error_messages={"invalid": "Los días deben ser un número entero, por ejemplo 30."},
    )
    modo = forms.ChoiceField(
        label="Modo",
        choices=Campaign.Mode.choices,
        initial=Campaign.Mode.GENERATE,
        error_messages={"invalid_choice": "Elige si solo generar o generar y enviar."},
    )

    def options(self) -> campaigns.CampaignOptions:
        data = self.cleaned_data
        return campaigns.CampaignOptions(
            segment=data["segmento"],
            limit=data["limite"],
            not_contacted_days=data["sin_contacto_dias"],
            mode=data["modo"] or Campaign.Mode.GENERATE,
        )

    def preview_url(self) -> str:
        """The campaign page showing the preview of these options again (to change them before starting)."""
        chosen = {name: value for name, value in self.cleaned_data.items() if value not in (None, "")}
        return f"{reverse('crm_campanas')}?{urlencode(chosen)}"


def _list_context(request, form, preview=None):
    past = campaigns.with_figures(Campaign.objects.select_related("created_by")).order_by("-created_at", "-id")
    return {
        "nav": "campanas",
        "form": form,
        "preview": preview,
        "send_mode": preview is not None and form.cleaned_data.get("modo") == Campaign.Mode.SEND,
        "segments": SEGMENTS,
        "page": paginate(past, request.GET.get("page", 1), 20, count_queryset=Campaign.objects.all()),
    }


@require_GET
@crm_view("crm.view_campaign")
def campanas(request):
    """The form (a GET with `segmento` shows how many customers it would include) and past campaigns."""
    if "segmento" not in request.GET:
        return render(request, "crm/campanas.html", _list_context(request, CampaignForm()))
    form = CampaignForm(request.GET)
    if not form.is_valid():
        return render(request, "crm/campanas.html", _list_context(request, form), status=400)
    preview = campaigns.preview(form.options())
    return render(request, "crm/campanas.html", _list_context(request, form, preview))


@require_POST
@crm_view("crm.add_campaign")
def campana_iniciar(request):
    form = CampaignForm(request.POST)
    if not form.is_valid():
        return render(request, "crm/campanas.html", _list_context(request, form), status=400)
    options = form.options()
    if options.mode == Campaign.Mode.SEND:
        # Emails leave without review: staff confirm the number of customers who will receive one first.
        preview = campaigns.preview(options)
        if preview.total and request.POST.get("confirmar") != str(preview.will_receive):
            changed = "confirmar" in request.POST
            context = {
                "nav": "campanas",
                "form": form,
                "preview": preview,
                "segment": SEGMENTS[options.segment],
                "threshold": settings.CAMPAIGN_APPROVAL_THRESHOLD,
                "needs_review": preview.total > settings.CAMPAIGN_APPROVAL_THRESHOLD,
                "changed": changed,
                "delivery_note": mail.delivery_note(),
                "back_url": form.preview_url(),
            }
            return render(request, "crm/campanas_confirmar.html", context, status=409 if changed else 200)
    try:
        campaign = campaigns.start_campaign(options=options, user=request.user)
    except campaigns.CampaignError as exc:
        form.add_error(None, str(exc))
        return render(request, "crm/campanas.html", _list_context(request, form), status=409)
    return redirect("crm_campana", campaign_id=campaign.pk)


RECIPIENT_FILTERS = {value: label for value, label in CampaignRecipient.Status.choices}


def _detail(request, campaign_id, *, error="", status=200, requeued=False):
    campaign = get_object_or_404(Campaign.objects.select_related("created_by", "approved_by"), pk=campaign_id)
    estado = request.GET.get("estado", "")
    if estado and estado not in RECIPIENT_FILTERS:
        estado, error, status = "", "Filtro de estado no válido.", 400
    recipients = (
        CampaignRecipient.objects.filter(campaign=campaign)
        .select_related("cliente", "proposal")
        .only(
            "id", "status", "reason", "error", "cliente__id", "cliente__nombre", "cliente__email",
            "proposal__id", "proposal__email_subject", "proposal__offer_code", "proposal__status",
        )
        .order_by("id")
    )  # fmt: skip
    count_qs = CampaignRecipient.objects.filter(campaign=campaign)
    if estado:
        recipients, count_qs = recipients.filter(status=estado), count_qs.filter(status=estado)
    context = {
        "nav": "campanas",
        "campaign": campaign,
        "segment": SEGMENTS.get(campaign.segment),
        "progress": campaigns.campaign_progress(campaign.pk),
        "effect": campaign_effect(campaign),
        "page": paginate(recipients, request.GET.get("page", 1), 50, count_queryset=count_qs),
        "estado": estado,
        "filters": RECIPIENT_FILTERS,
        "error": error,
        "requeued": requeued,
        # In review: why this user cannot approve the send (four eyes), shown instead of a button that would fail.
        "approval_refusal": campaigns.approval_refusal(campaign, request.user)
        if campaign.status == Campaign.Status.REVIEW
        else "",
    }
    return render(request, "crm/campanas_detalle.html", context, status=status)


@require_GET
@crm_view("crm.view_campaign")
def campana(request, campaign_id: int):
    # A campaign whose worker died (or whose task was lost) is enqueued again when staff look at it.
    return _detail(request, campaign_id, requeued=campaigns.recover_campaign(campaign_id))


@require_GET
@crm_view("crm.view_campaign")
def campana_progreso(request, campaign_id: int):
    try:
        return JsonResponse(campaigns.campaign_progress(campaign_id).as_dict())
    except Campaign.DoesNotExist:
        return JsonResponse({"error": "La campaña no existe."}, status=404)


@require_POST
@crm_view("crm.add_campaign")
def campana_aprobar(request, campaign_id: int):
    """First POST: a confirmation naming how many emails will go out; the second (`confirmar=N`) approves."""
    campaign = get_object_or_404(Campaign.objects.select_related("created_by"), pk=campaign_id)
    try:
        to_send = campaigns.check_approval(campaign, request.user)
    except campaigns.CampaignError as exc:
        return _detail(request, campaign_id, error=str(exc), status=409)
    confirmed = request.POST.get("confirmar", "")
    if confirmed != str(to_send):
        context = {
            "nav": "campanas",
            "campaign": campaign,
            "to_send": to_send,
            "changed": bool(confirmed),
            "delivery_note": mail.delivery_note(),
        }
        return render(request, "crm/campanas_aprobar.html", context, status=409 if confirmed else 200)
    try:
        campaigns.approve_send(campaign_id=campaign_id, user=request.user, expected=to_send)
    except campaigns.CampaignError as exc:
        return _detail(request, campaign_id, error=str(exc), status=409)
    return redirect("crm_campana", campaign_id=campaign_id)


@require_GET
@crm_view("crm.view_campaign")
def campana_destinatario(request, campaign_id: int, recipient_id: int):
    recipient = get_object_or_404(
        CampaignRecipient.objects.select_related("campaign", "cliente", "proposal"),
        pk=recipient_id,
        campaign_id=campaign_id,
    )
    if recipient.proposal is None:
        raise Http404("Este cliente no tiene propuesta en la campaña.")
    # The stored HTML comes from a generator (possibly an AI model): show it sanitised, never as trusted markup.
    html = sanitize_html(recipient.proposal.email_body.replace(UNSUBSCRIBE_MARKER, "#"))
    context = {
        "nav": "campanas",
        "recipient": recipient,
        "proposal": recipient.proposal,
        "html": html,
        "email_text": mail.preview_text(recipient.proposal),
        "recommendations": recommendations_for_staff(recipient.proposal.recommendations),
        "confidence_legend": LEGEND,
    }
    return render(request, "crm/campanas_propuesta.html", context)


@require_POST
@crm_view("crm.add_campaign")
def campana_descartar(request, campaign_id: int, recipient_id: int):
    get_object_or_404(CampaignRecipient, pk=recipient_id, campaign_id=campaign_id)
    try:
        campaigns.drop_recipient(campaign_id=campaign_id, recipient_id=recipient_id)
    except campaigns.CampaignError as exc:
        return _detail(request, campaign_id, error=str(exc), status=409)
    return redirect("crm_campana", campaign_id=campaign_id)


@require_POST
@crm_view("crm.add_campaign")
def campana_cancelar(request, campaign_id: int):
    get_object_or_404(Campaign, pk=campaign_id)
    try:
        campaigns.cancel_campaign(campaign_id=campaign_id, user=request.user)
    except campaigns.CampaignError as exc:
        return _detail(request, campaign_id, error=str(exc), status=409)
    return redirect("crm_campana", campaign_id=campaign_id)


@require_POST
@crm_view("crm.add_campaign")
def campana_reanudar(request, campaign_id: int):
    get_object_or_404(Campaign, pk=campaign_id)
    try:
        campaigns.resume_campaign(campaign_id=campaign_id, user=request.user)
    except campaigns.CampaignError as exc:
        return _detail(request, campaign_id, error=str(exc), status=409)
    return redirect("crm_campana", campaign_id=campaign_id)


INTERRUPTED_DECISIONS = {"enviada": True, "reenviar": False}


@require_POST
@crm_view("crm.add_campaign")
def campana_decidir(request, campaign_id: int, recipient_id: int):
    """A send with unknown outcome: staff say it arrived (`decision=enviada`) or send it again (`reenviar`)."""
    get_object_or_404(CampaignRecipient, pk=recipient_id, campaign_id=campaign_id)
    decision = request.POST.get("decision", "")
    if decision not in INTERRUPTED_DECISIONS:
        return _detail(
            request, campaign_id, error="Elige si el correo se envió o si hay que enviarlo de nuevo.", status=400
        )
    try:
        campaigns.decide_interrupted(
            campaign_id=campaign_id, recipient_id=recipient_id, sent=INTERRUPTED_DECISIONS[decision], user=request.user
        )
    except campaigns.CampaignError as exc:
        return _detail(request, campaign_id, error=str(exc), status=409)
    return redirect("crm_campana", campaign_id=campaign_id)
