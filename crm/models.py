from django.conf import settings
from django.db import models


class Proposal(models.Model):
    """A personalised proposal for one customer, stored every time one is generated.

    The payload (`customer_profile`, `insights`, `recommendations`, `offer`) has one shape whatever the backend
    that produced it (see `crm.services.proposals`). Status moves `generated -> sent` or `generated -> failed`
    (and `failed -> sent` on retry) only through conditional updates in `crm.services.mail`.
    """

    class Status(models.TextChoices):
        GENERATED = "generated", "Generada"
        SENDING = "sending", "Enviando"
        SENT = "sent", "Enviada"
        FAILED = "failed", "Fallida"
        DISCARDED = "discarded", "Descartada"

    class Backend(models.TextChoices):
        LOCAL = "local", "Motor local"
        ANTHROPIC = "anthropic", "Claude (Anthropic)"
        REMOTE = "remote", "Servidor de propuestas"

    cliente = models.ForeignKey(
        "ventas.Cliente", verbose_name="cliente", on_delete=models.CASCADE, related_name="propuestas"
    )
    created_at = models.DateTimeField("creada", auto_now_add=True, db_index=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="generada por",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    segment = models.CharField("segmento", max_length=20, db_index=True)
    backend = models.CharField("motor", max_length=20, choices=Backend.choices)
    model = models.CharField("modelo", max_length=100, blank=True, default="")

    customer_profile = models.JSONField("perfil del cliente", default=dict)
    insights = models.JSONField("insights", default=dict)
    recommendations = models.JSONField("recomendaciones", default=list)
    offer = models.JSONField("oferta", default=dict)
    offer_code = models.CharField("código de oferta", max_length=40, unique=True)
    email_subject = models.CharField("asunto", max_length=200)
    email_body = models.TextField("email (HTML)")
    email_text = models.TextField("email (texto)")

    # Provenance of AI backends.
    prompt_version = models.CharField("versión del prompt", max_length=40, blank=True, default="")
    input_snapshot = models.JSONField("entrada enviada", default=dict, blank=True)
    usage = models.JSONField("uso de tokens", default=dict, blank=True)
    cost_usd = models.DecimalField("costo estimado (USD)", max_digits=10, decimal_places=6, null=True, blank=True)
    duration_ms = models.PositiveIntegerField("duración (ms)", default=0)

    status = models.CharField("estado", max_length=20, choices=Status.choices, default=Status.GENERATED, db_index=True)
    sent_at = models.DateTimeField("enviada", null=True, blank=True, db_index=True)
    sent_to = models.EmailField("enviada a", blank=True, default="")
    failed_at = models.DateTimeField("falló", null=True, blank=True)
    error = models.TextField("error", blank=True, default="")
    attempts = models.PositiveSmallIntegerField("intentos de envío", default=0)

    class Meta:
        verbose_name = "propuesta"
        verbose_name_plural = "propuestas"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["cliente", "-created_at"], name="crm_proposal_cliente_created")]

    def __str__(self):
        return f"Propuesta {self.offer_code} para {self.cliente_id}"


class Campaign(models.Model):
    """A batch of proposals for the customers of one segment, generated and sent by a background task.

    One `CampaignRecipient` per customer (unique), so re-running the task or a worker crash can never email a
    customer the same campaign twice. Status: `generating -> review -> sending -> done` (generate-only
    campaigns wait in `review` until staff approve the send; generate-and-send ones skip it).
    """

    class Status(models.TextChoices):
        GENERATING = "generating", "Generando propuestas"
        REVIEW = "review", "En revisión"
        SENDING = "sending", "Enviando"
        DONE = "done", "Terminada"
        CANCELLED = "cancelled", "Cancelada"

    class Mode(models.TextChoices):
        GENERATE = "generate", "Solo generar (revisar antes de enviar)"
        SEND = "send", "Generar y enviar"

    created_at = models.DateTimeField("creada", auto_now_add=True, db_index=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="creada por",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    segment = models.CharField("segmento", max_length=20)
    limit = models.PositiveIntegerField("límite de clientes", null=True, blank=True)
    not_contacted_days = models.PositiveIntegerField("sin contacto en los últimos (días)", null=True, blank=True)
    mode = models.CharField("modo", max_length=10, choices=Mode.choices, default=Mode.GENERATE)
    status = models.CharField("estado", max_length=12, choices=Status.choices, default=Status.GENERATING)
    approved_at = models.DateTimeField("envío aprobado", null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="aprobada por",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    finished_at = models.DateTimeField("terminada", null=True, blank=True)

    class Meta:
        verbose_name = "campaña"
        verbose_name_plural = "campañas"
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"Campaña {self.pk} ({self.segment})"


class CampaignRecipient(models.Model):
    """The outbox row of one customer in one campaign; claimed by workers one at a time."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pendiente"
        GENERATED = "generated", "Propuesta generada"
        DROPPED = "dropped", "Descartado"
        SENDING = "sending", "Enviando"
        SENT = "sent", "Enviado"
        SKIPPED = "skipped", "Omitido"
        FAILED = "failed", "Falló"

    class Reason(models.TextChoices):
        OPTED_OUT = "opted_out", "Se dio de baja"
        NO_EMAIL = "no_email", "Sin email válido"
        RECENT_CONTACT = "recent_contact", "Recibió una propuesta hace poco"
        INTERRUPTED = "interrupted", "Envío interrumpido"

    campaign = models.ForeignKey(Campaign, verbose_name="campaña", on_delete=models.CASCADE, related_name="recipients")
    cliente = models.ForeignKey(
        "ventas.Cliente", verbose_name="cliente", on_delete=models.CASCADE, related_name="campaign_recipients"
    )
    proposal = models.OneToOneField(
        Proposal,
        verbose_name="propuesta",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="campaign_recipient",
    )
    status = models.CharField("estado", max_length=12, choices=Status.choices, default=Status.PENDING)
    reason = models.CharField("motivo", max_length=20, choices=Reason.choices, blank=True, default="")
    error = models.TextField("error", blank=True, default="")
    updated_at = models.DateTimeField("actualizado", auto_now=True)

    class Meta:
        verbose_name = "destinatario de campaña"
        verbose_name_plural = "destinatarios de campaña"
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "cliente"], name="crm_campaign_recipient_once"),
        ]
        indexes = [models.Index(fields=["campaign", "status"], name="crm_recipient_campaign_status")]

    def __str__(self):
        return f"{self.campaign_id}/{self.cliente_id}: {self.status}"


class CustomerSummary(models.Model):
    """Per-customer figures of `crm_service_history`, kept by `crm.services.summaries` (never edited by hand).

    One row per customer with at least one history row. Figures count the rows dated up to the day of the last
    refresh (`visit`/`service` dates are real dates only, as in `crm.services.rfm`); a row dated later shows up
    in `upcoming_service` and is counted by the daily refresh on its day. `r`, `f`, `m` and `segment` are the
    scores as of `SummaryState.scored_on`; readers recompute them from the stored figures on any other day.
    `history_rows`/`history_max_id` (all rows, any date) are the watermark used to spot writes made straight
    into the table by the legacy system.
    """

    cliente = models.OneToOneField(
        "ventas.Cliente",
        verbose_name="cliente",
        primary_key=True,
        on_delete=models.CASCADE,
        db_constraint=False,  # history has no constraint either; a raw DELETE of customers must not fail on us
        related_name="summary",
    )
    first_service = models.DateField("primer servicio", null=True)
    last_service = models.DateField("último servicio", null=True)
    visit_days = models.PositiveIntegerField("días con visita", default=0)
    frequency = models.PositiveIntegerField("servicios", default=0)
    monetary = models.DecimalField("gasto total", max_digits=14, decimal_places=2, default=0)
    upcoming_service = models.DateField("próximo servicio (fecha futura)", null=True)
    history_rows = models.PositiveIntegerField("filas de historial", default=0)
    history_max_id = models.BigIntegerField("mayor id de historial", default=0)
    r = models.PositiveSmallIntegerField(null=True)
    f = models.PositiveSmallIntegerField(null=True)
    m = models.PositiveSmallIntegerField(null=True)
    segment = models.CharField("segmento", max_length=20, default="no_history")

    class Meta:
        verbose_name = "resumen de cliente"
        verbose_name_plural = "resúmenes de clientes"
        indexes = [
            models.Index("segment", models.F("monetary").desc(), "cliente", name="crm_summary_segment_spend"),
            models.Index(fields=["upcoming_service"], name="crm_summary_upcoming"),
        ]

    def __str__(self):
        return f"Resumen de {self.cliente_id}: {self.segment}"


class MonthlyServiceSummary(models.Model):
    """Services and revenue per calendar month and service (with its category), from `crm_service_history`.

    Rows on the placeholder date (unknown legacy dates) are kept apart with `dated=False`: they count for the
    whole-history service and category figures, never for a month.
    """

    month = models.DateField("mes")  # first day of the month
    dated = models.BooleanField("fecha real", default=True)
    service_type = models.CharField("categoría", max_length=100)
    service_name = models.CharField("servicio", max_length=255)
    services = models.PositiveIntegerField("servicios", default=0)
    revenue = models.DecimalField("ingresos", max_digits=16, decimal_places=2, default=0)

    class Meta:
        verbose_name = "resumen mensual por servicio"
        verbose_name_plural = "resúmenes mensuales por servicio"
        constraints = [
            models.UniqueConstraint(
                fields=["month", "dated", "service_type", "service_name"], name="crm_month_summary_once"
            )
        ]

    def __str__(self):
        return f"{self.month:%Y-%m} {self.service_name}: {self.services}"


class SummaryState(models.Model):
    """The single row (pk=1) describing the summaries: when they were refreshed and up to which history id.

    Every refresh locks this row first, so refreshes never interleave.
    """

    built_at = models.DateTimeField("reconstrucción completa", null=True)
    refreshed_at = models.DateTimeField("última actualización", null=True)
    scored_on = models.DateField("segmentos calculados al", null=True)
    score_rule = models.CharField("umbrales usados", max_length=200, blank=True, default="")
    history_max_id = models.BigIntegerField("mayor id de historial visto", default=0)
    # {"at_risk": [customers, "revenue"], ...} over the stored segments (as of scored_on): the dashboard's table.
    segment_totals = models.JSONField("totales por segmento", default=dict)

    class Meta:
        verbose_name = "estado de los resúmenes"
        verbose_name_plural = "estado de los resúmenes"

    def __str__(self):
        return f"Resúmenes al {self.refreshed_at}"


class PeriodicJob(models.Model):
    """The last scheduled run enqueued for each periodic job (see `crm.periodic`).

    `last_slot` moves forward only through a conditional UPDATE, so two schedulers never enqueue the same run.
    """

    name = models.CharField("tarea", max_length=200, unique=True)
    last_slot = models.DateTimeField("última ejecución programada", null=True)
    last_enqueued_at = models.DateTimeField("encolada", null=True)
    last_task_id = models.CharField("id de la tarea", max_length=100, blank=True, default="")

    class Meta:
        verbose_name = "tarea periódica"
        verbose_name_plural = "tareas periódicas"
        ordering = ["name"]

    def __str__(self):
        return self.name
