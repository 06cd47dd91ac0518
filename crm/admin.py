import json

from django import forms
from django.contrib import admin
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django_tasks_db.admin import DBTaskResultAdmin
from django_tasks_db.models import DBTaskResult

from crm.models import AccessLog, Campaign, CampaignRecipient, DataRequest, PlantillaWhatsApp, Proposal
from crm.services.campaigns import audience_label, with_figures
from crm.services.privacy.requests import due_date
from crm.services.rfm import SEGMENTS, segment_label
from crm.services.whatsapp.messages import VARIABLES, template_variables
from crm.services.whatsapp.results import template_counts
from ventas.models import ConsentEvent


class SegmentFilter(admin.SimpleListFilter):
    title = "segmento"
    parameter_name = "segmento"

    def lookups(self, request, model_admin):
        return [(key, segment.label) for key, segment in SEGMENTS.items()]

    def queryset(self, request, queryset):
        return queryset.filter(segment=self.value()) if self.value() else queryset


def _pretty(value) -> str:
    return format_html("<pre>{}</pre>", json.dumps(value, ensure_ascii=False, indent=2))


@admin.register(Proposal)
class ProposalAdmin(admin.ModelAdmin):
    list_display = ["offer_code", "cliente", "segment_label", "backend", "status", "created_at", "sent_at"]
    list_filter = [SegmentFilter, "backend", "status", "created_at", "sent_at"]
    search_fields = ["offer_code", "cliente__nombre", "cliente__email", "email_subject"]
    list_select_related = ["cliente", "created_by"]
    raw_id_fields = ["cliente"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    list_per_page = 50
    fieldsets = [
        (None, {"fields": ["cliente", "created_by", "created_at", "segment_label", "backend", "model", "status"]}),
        (
            "Propuesta",
            {"fields": ["offer_code", "profile_json", "insights_json", "recommendations_json", "offer_json"]},
        ),
        ("Email", {"fields": ["email_subject", "email_body", "email_text"]}),
        ("Envío", {"fields": ["sent_at", "sent_to", "failed_at", "error", "attempts"]}),
        (
            "Procedencia",
            {"fields": ["prompt_version", "input_snapshot_json", "usage_json", "cost_usd", "duration_ms"]},
        ),
    ]
    readonly_fields = [
        "cliente",
        "created_by",
        "created_at",
        "segment_label",
        "backend",
        "model",
        "status",
        "offer_code",
        "profile_json",
        "insights_json",
        "recommendations_json",
        "offer_json",
        "email_subject",
        "email_body",
        "email_text",
        "sent_at",
        "sent_to",
        "failed_at",
        "error",
        "attempts",
        "prompt_version",
        "input_snapshot_json",
        "usage_json",
        "cost_usd",
        "duration_ms",
    ]

    def has_add_permission(self, request):
        return False  # proposals come from generate_proposal, never typed in

    @admin.display(description="segmento", ordering="segment")
    def segment_label(self, obj):
        return segment_label(obj.segment)

    @admin.display(description="perfil del cliente")
    def profile_json(self, obj):
        return _pretty(obj.customer_profile)

    @admin.display(description="insights")
    def insights_json(self, obj):
        return _pretty(obj.insights)

    @admin.display(description="recomendaciones")
    def recommendations_json(self, obj):
        return _pretty(obj.recommendations)

    @admin.display(description="oferta")
    def offer_json(self, obj):
        return _pretty(obj.offer)

    @admin.display(description="entrada enviada")
    def input_snapshot_json(self, obj):
        return _pretty(obj.input_snapshot)

    @admin.display(description="uso de tokens")
    def usage_json(self, obj):
        return _pretty(obj.usage)


# Ley 21.719 ------------------------------------------------------------------------------------------------------
@admin.register(DataRequest)
class DataRequestAdmin(admin.ModelAdmin):
    """Requests arrive and get answered on the customer's profile; here they are listed and followed up."""

    list_display = ["received_on", "kind", "cliente", "status", "due_on", "handled_by", "handled_at"]
    list_filter = ["kind", "status", "received_on", "due_on"]
    search_fields = ["=cliente__id"]
    list_select_related = ["cliente", "handled_by"]
    raw_id_fields = ["cliente"]
    readonly_fields = ["due_on", "handled_by", "handled_at"]
    date_hierarchy = "received_on"
    show_full_result_count = False

    def save_model(self, request, obj, form, change):
        obj.due_on = due_date(obj.received_on)
        if obj.status != DataRequest.Status.RECEIVED and obj.handled_at is None:
            obj.handled_by, obj.handled_at = request.user, timezone.now()
        super().save_model(request, obj, form, change)

    def has_delete_permission(self, request, obj=None):
        return False  # the record of requests is evidence


class ReadOnlyLedgerAdmin(admin.ModelAdmin):
    """Append-only records: listed and opened, never added, changed or deleted from the admin."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AccessLog)
class AccessLogAdmin(ReadOnlyLedgerAdmin):
    list_display = ["created_at", "user", "action", "cliente_id"]
    list_filter = ["action", "created_at", "user"]
    search_fields = ["=cliente__id", "user__username"]
    list_select_related = ["user"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    list_per_page = 100


@admin.register(ConsentEvent)
class ConsentEventAdmin(ReadOnlyLedgerAdmin):
    list_display = ["created_at", "cliente", "channel", "granted", "source", "version", "created_by"]
    list_filter = ["channel", "granted", "source", "created_at"]
    search_fields = ["=cliente__id"]
    list_select_related = ["cliente", "created_by"]
    date_hierarchy = "created_at"
    show_full_result_count = False


class PlantillaWhatsAppForm(forms.ModelForm):
    segment = forms.ChoiceField(
        label="segmento",
        required=False,
        choices=[("", "Cualquier segmento"), *((key, segment.label) for key, segment in SEGMENTS.items())],
    )

    class Meta:
        model = PlantillaWhatsApp
        fields = ["nombre", "tier", "segment", "texto", "activa", "meta_template"]
        help_texts = {
            "texto": "Variables: "
            + " ".join("{" + name + "}" for name in VARIABLES)
            + ". Trate al cliente de usted. El aviso «Si prefiere no recibir mensajes por WhatsApp, responda NO» "
            "se agrega solo al final."
        }

    def clean_texto(self):
        texto = self.cleaned_data["texto"]
        if template_variables(texto) is None:
            raise forms.ValidationError(
                "El texto usa una variable desconocida o una llave suelta. Variables válidas: "
                + ", ".join("{" + name + "}" for name in VARIABLES)
                + "."
            )
        return texto


@admin.register(PlantillaWhatsApp)
class PlantillaWhatsAppAdmin(admin.ModelAdmin):
    form = PlantillaWhatsAppForm
    list_display = ["nombre", "tier", "segment_name", "activa", "sent", "replied", "booked"]
    list_filter = ["tier", "activa"]
    search_fields = ["nombre", "texto"]

    def get_queryset(self, request):
        return template_counts()

    @admin.display(description="segmento")
    def segment_name(self, obj):
        return segment_label(obj.segment) if obj.segment else "Cualquiera"

    @admin.display(description="enviados", ordering="sent")
    def sent(self, obj):
        return obj.sent

    @admin.display(description="respondidos", ordering="replied")
    def replied(self, obj):
        return obj.replied

    @admin.display(description="reservaron", ordering="booked")
    def booked(self, obj):
        return obj.booked


# Campaigns -------------------------------------------------------------------------------------------------------
class FirstRecipientsFormSet(forms.BaseInlineFormSet):
    SHOWN = 200  # a campaign can hold thousands; its CRM page pages through all of them

    def get_queryset(self):
        return super().get_queryset()[: self.SHOWN]


class CampaignRecipientInline(admin.TabularInline):
    """Who the campaign was for and what happened to each (the first 200); changed only by the campaign pages
    and the workers."""

    model = CampaignRecipient
    formset = FirstRecipientsFormSet
    verbose_name_plural = f"destinatarios (los primeros {FirstRecipientsFormSet.SHOWN}; todos en la campaña del CRM)"
    fields = ["cliente", "status", "reason", "proposal", "error", "updated_at"]
    readonly_fields = fields
    raw_id_fields = ["cliente", "proposal"]
    extra = 0
    can_delete = False
    show_change_link = False
    classes = ["collapse"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("cliente", "proposal")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    """Campaigns are started, reviewed and approved on the CRM's campaign pages; here they are only listed."""

    list_display = [
        "created_at",
        "status",
        "audience",
        "recipients_total",
        "recipients_sent",
        "recipients_failed",
        "approver",
    ]  # who created it, the mode, the skipped and the lease: on the detail page (the list fits beside the sidebars)
    list_display_links = ["created_at"]
    ordering = ["-id"]  # newest first
    list_filter = ["status", "mode", "created_at"]
    search_fields = ["=id", "segment", "created_by__username", "approved_by__username"]
    list_select_related = ["created_by", "approved_by"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    list_per_page = 50
    fields = [
        "id",
        "created_at",
        "created_by",
        "audience",
        "limit",
        "not_contacted_days",
        "mode",
        "status",
        "approved_at",
        "approved_by",
        "finished_at",
        "lease_owner",
        "lease_expires_at",
        "crm_link",
    ]
    readonly_fields = fields
    inlines = [CampaignRecipientInline]
    actions = None

    def get_queryset(self, request):
        return with_figures(super().get_queryset(request))

    def has_add_permission(self, request):
        return False  # campaigns start from the CRM's campaign page (audience preview, approval)

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        # A campaign is the record of who was emailed and of its control group (its measured effect); a running
        # one also holds its worker's outbox. Customers' erasure anonymises their rows instead.
        return False

    @admin.display(description="audiencia", ordering="segment")
    def audience(self, obj):
        return audience_label(obj.segment)

    @admin.display(description="en el CRM")
    def crm_link(self, obj):
        return format_html('<a href="{}">Ver la campaña en el CRM</a>', reverse("crm_campana", args=[obj.pk]))

    @admin.display(description="clientes", ordering="n_total")
    def recipients_total(self, obj):
        return obj.n_total

    @admin.display(description="enviados", ordering="n_sent")
    def recipients_sent(self, obj):
        return obj.n_sent

    @admin.display(description="fallidos", ordering="n_failed")
    def recipients_failed(self, obj):
        return obj.n_failed

    @admin.display(description="aprobada por", ordering="approved_by__username", empty_value="—")
    def approver(self, obj):  # not the ForeignKey column itself: that one never wraps
        return obj.approved_by.username if obj.approved_by else None


# Background tasks (django_tasks_db) --------------------------------------------------------------------------------
admin.site.unregister(DBTaskResult)


@admin.register(DBTaskResult)
class TaskResultAdmin(DBTaskResultAdmin):
    """The package's read-only admin with its two plain-English labels in Spanish (the rest come from locale/es)."""

    @admin.display(description="traza del error")
    def formatted_traceback(self, obj):
        return super().formatted_traceback(obj)

    @admin.display(description="ejecutar después de")
    def display_run_after(self, obj):
        return super().display_run_after(obj)
