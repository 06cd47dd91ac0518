import json

from django.contrib import admin
from django.utils.html import format_html

from crm.models import Proposal
from crm.services.rfm import SEGMENTS, segment_label


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
        (None, {"fields": ["cliente", "created_by", "created_at", "segment", "backend", "model", "status"]}),
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
        "segment",
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
