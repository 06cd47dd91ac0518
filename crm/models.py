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
