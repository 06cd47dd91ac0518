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


class RecommenderModel(models.Model):
    """A ranking model fitted by `manage.py train_recommender` on this installation's own history.

    `kind` is the model that won on the held-out period: the fitted engine (`motor`) or a baseline that the
    engine could not beat. The newest row is served (`crm.services.recommender.model.current_model`);
    proposals record `name_for_proposals` as their model.
    """

    class Kind(models.TextChoices):
        ENGINE = "motor", "Motor local"
        POPULARITY = "popularidad", "Popularidad"
        PERSONAL = "personal", "Top personal"
        PERSONAL_GLOBAL = "personal_global", "Top personal + global"

    fitted_at = models.DateTimeField("entrenado", db_index=True)
    kind = models.CharField("modelo elegido", max_length=20, choices=Kind.choices)
    weights = models.JSONField("pesos", default=dict)
    bias = models.FloatField("sesgo", default=0.0)
    calibration_a = models.FloatField("calibración a", default=1.0)
    calibration_b = models.FloatField("calibración b", default=0.0)
    calibration_top1 = models.FloatField("calibración del primer lugar", default=0.0)
    data_from = models.DateField("datos desde", null=True, blank=True)
    data_to = models.DateField("datos hasta", null=True, blank=True)
    cutoff = models.DateField("corte de evaluación", null=True, blank=True)
    metrics = models.JSONField("métricas", default=dict, blank=True)

    class Meta:
        verbose_name = "modelo de recomendación"
        verbose_name_plural = "modelos de recomendación"
        ordering = ["-fitted_at", "-id"]

    def __str__(self):
        return self.name_for_proposals

    @property
    def name_for_proposals(self) -> str:
        return f"{self.kind} #{self.pk} {self.fitted_at:%Y-%m-%d}"
