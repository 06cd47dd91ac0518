from django.conf import settings
from django.db import models


class Proposal(models.Model):
    """A personalised proposal for one customer, stored every time one is generated.

    The payload (`customer_profile`, `insights`, `recommendations`, `offer`) has one shape whatever the backend
    that produced it (see `crm.services.proposals`). Status moves `generated -> sending -> sent|failed` (and
    `failed -> sending` on retry) only through conditional updates in `crm.services.mail.sending`. A send whose
    outcome is unknown (the process died while talking to the SMTP server) stays `sending` until
    SEND_LEASE_SECONDS after `sending_since`, then becomes `interrupted`: staff decide (mark as sent, or
    confirm a new send).
    """

    class Status(models.TextChoices):
        GENERATED = "generated", "Generada"
        SENDING = "sending", "Enviando"
        SENT = "sent", "Enviada"
        FAILED = "failed", "Fallida"
        INTERRUPTED = "interrupted", "Interrumpida"
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
    # First real-dated visit on or after the local day of the email (crm.services.conversions keeps it in step
    # with the history): the proposal converted when it falls within PROPOSAL_CONVERSION_DAYS.
    next_visit_on = models.DateField("primera visita desde el envío", null=True, blank=True)
    failed_at = models.DateTimeField("falló", null=True, blank=True)
    error = models.TextField("error", blank=True, default="")
    attempts = models.PositiveSmallIntegerField("intentos de envío", default=0)
    sending_since = models.DateTimeField("enviándose desde", null=True, blank=True)

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
    campaigns wait in `review` until staff approve the send; generate-and-send ones skip it); `cancelled`
    from any of them.

    Lease: the worker running the campaign writes its id in `lease_owner` and renews `lease_expires_at` after
    every customer. A campaign whose lease expired (its worker died) is re-enqueued by
    `crm.services.campaigns.recover_campaigns`. `lease_owner` empty with a lease time: enqueued, waiting for a
    worker until then.
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
    lease_owner = models.CharField("trabajador a cargo", max_length=64, blank=True, default="")
    lease_expires_at = models.DateTimeField("plazo del trabajador", null=True, blank=True)

    class Meta:
        verbose_name = "campaña"
        verbose_name_plural = "campañas"
        ordering = ["-created_at", "-id"]
        permissions = [("approve_campaign", "Puede aprobar el envío de campañas grandes")]

    def __str__(self):
        return f"Campaña #{self.pk}"  # the segment key is not for staff; pages show its label


class CampaignRecipient(models.Model):
    """The outbox row of one customer in one campaign; claimed by workers one at a time."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pendiente"
        GENERATING = "generating", "Generando"
        GENERATED = "generated", "Propuesta generada"
        DROPPED = "dropped", "Descartado"
        SENDING = "sending", "Enviando"
        SENT = "sent", "Enviado"
        SKIPPED = "skipped", "Omitido"
        FAILED = "failed", "Falló"
        CONTROL = "control", "Grupo de control (no se contacta)"
        INTERRUPTED = "interrupted", "Interrumpido: decide si se envió"

    class Reason(models.TextChoices):
        OPTED_OUT = "opted_out", "Se dio de baja"
        NO_EMAIL = "no_email", "Sin email válido"
        RESTRICTED = "restricted", "Bloqueo u oposición (Ley 21.719)"
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


class CLVModel(models.Model):
    """One fit of the lifetime-value models (BG/NBD for visits, Gamma-Gamma for spend) on this database.

    `calibration_end` is set for a holdout check (`fit_clv --calibration-end`): such fits are kept for the record
    but never serve the profile. Time unit of `bgnbd["alpha"]`: days.
    """

    fitted_at = models.DateTimeField("ajustado", auto_now_add=True, db_index=True)
    calibration_end = models.DateField("fin de calibración", null=True, blank=True)
    data_start = models.DateField("primer día", null=True, blank=True)
    data_end = models.DateField("último día", null=True, blank=True)
    customers = models.PositiveIntegerField("clientes", default=0)
    repeat_customers = models.PositiveIntegerField("clientes con visitas repetidas", default=0)
    penalizer = models.FloatField("penalización L2", default=0)
    bgnbd = models.JSONField("parámetros BG/NBD", default=dict)
    gamma_gamma = models.JSONField("parámetros Gamma-Gamma", default=dict, blank=True)
    holdout_predicted = models.FloatField("holdout: visitas previstas", null=True, blank=True)
    holdout_actual = models.PositiveIntegerField("holdout: visitas reales", null=True, blank=True)
    seconds = models.FloatField("segundos", default=0)

    class Meta:
        verbose_name = "modelo de valor de cliente"
        verbose_name_plural = "modelos de valor de cliente"
        ordering = ["-fitted_at", "-id"]

    def __str__(self):
        return f"Valor de cliente {self.fitted_at:%d-%m-%Y %H:%M}"


class CustomerValue(models.Model):
    """What the newest serving CLVModel predicts for one customer (read by pages; never fitted in a request)."""

    cliente = models.OneToOneField(
        "ventas.Cliente", verbose_name="cliente", on_delete=models.CASCADE, primary_key=True, related_name="valor"
    )
    model = models.ForeignKey(CLVModel, verbose_name="modelo", on_delete=models.CASCADE, related_name="+")
    p_alive = models.FloatField("probabilidad de seguir activo")
    expected_visits_90d = models.FloatField("visitas esperadas (90 días)")
    expected_visits_365d = models.FloatField("visitas esperadas (365 días)")
    expected_value_365d = models.DecimalField("valor esperado (365 días)", max_digits=14, decimal_places=0)

    class Meta:
        verbose_name = "valor esperado del cliente"
        verbose_name_plural = "valores esperados de clientes"
        indexes = [models.Index(fields=["-expected_value_365d"], name="crm_value_expected_365")]

    def __str__(self):
        return f"{self.cliente_id}: {self.expected_value_365d}"


class DueBack(models.Model):
    """A customer's usual rhythm in one service category (>= 3 real visit days in it), rebuilt by `due_back.refresh`.

    `overdue_since` is the first day on which the customer is overdue: more than 25% past their usual gap.
    """

    cliente = models.ForeignKey("ventas.Cliente", verbose_name="cliente", on_delete=models.CASCADE, related_name="+")
    category = models.CharField("categoría", max_length=100)
    visit_days = models.PositiveIntegerField("días con visita")
    usual_gap_days = models.FloatField("intervalo habitual (días)")
    last_visit = models.DateField("última visita")
    due_date = models.DateField("debería volver")
    overdue_since = models.DateField("atrasado desde", db_index=True)

    class Meta:
        verbose_name = "regreso esperado"
        verbose_name_plural = "regresos esperados"
        ordering = ["cliente_id", "category"]
        constraints = [models.UniqueConstraint(fields=["cliente", "category"], name="crm_dueback_once")]

    def __str__(self):
        return f"{self.cliente_id} · {self.category}: cada ~{self.usual_gap_days:.0f} días"


class SegmentSnapshot(models.Model):
    """Every customer's RFM segment as of the first day of a month (`month`), for segment movement."""

    month = models.DateField("mes")
    cliente = models.ForeignKey("ventas.Cliente", verbose_name="cliente", on_delete=models.CASCADE, related_name="+")
    segment = models.CharField("segmento", max_length=20)

    class Meta:
        verbose_name = "foto de segmento"
        verbose_name_plural = "fotos de segmentos"
        constraints = [models.UniqueConstraint(fields=["month", "cliente"], name="crm_snapshot_once")]
        indexes = [models.Index(fields=["month", "segment"], name="crm_snapshot_month_segment")]

    def __str__(self):
        return f"{self.month:%m-%Y} {self.cliente_id}: {self.segment}"


class DataRequest(models.Model):
    """A data-subject request under Ley 21.719 (art. 4) and what Aremko did about it.

    Every rights action (export, rectification, erasure, block, objection) records one, so Aremko can show when
    a request arrived, that it was answered within DATA_REQUEST_DAYS and by whom. `outcome` says what was done
    without repeating personal data (field names, never values).
    """

    class Kind(models.TextChoices):
        ACCESS = "acceso", "Acceso"
        PORTABILITY = "portabilidad", "Portabilidad"
        RECTIFICATION = "rectificacion", "Rectificación"
        ERASURE = "supresion", "Supresión"
        OBJECTION = "oposicion", "Oposición"
        BLOCK = "bloqueo", "Bloqueo temporal"

    class Status(models.TextChoices):
        RECEIVED = "recibida", "Recibida"
        DONE = "atendida", "Atendida"
        REJECTED = "rechazada", "Rechazada"

    cliente = models.ForeignKey(
        "ventas.Cliente", verbose_name="cliente", on_delete=models.CASCADE, related_name="solicitudes_datos"
    )
    kind = models.CharField("tipo", max_length=15, choices=Kind.choices)
    received_on = models.DateField("recibida el")
    due_on = models.DateField("plazo")
    status = models.CharField("estado", max_length=10, choices=Status.choices, default=Status.RECEIVED)
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="atendida por",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    handled_at = models.DateTimeField("atendida", null=True, blank=True)
    outcome = models.TextField("qué se hizo", blank=True, default="")

    class Meta:
        verbose_name = "solicitud de derechos"
        verbose_name_plural = "solicitudes de derechos"
        ordering = ["-received_on", "-id"]
        indexes = [models.Index(fields=["cliente", "-received_on"], name="crm_datarequest_cliente")]

    def __str__(self):
        return f"{self.get_kind_display()} del cliente {self.cliente_id} ({self.received_on:%d-%m-%Y})"


class AccessLog(models.Model):
    """Who opened which customer's data, and how: one row per view call, never updated.

    Rows older than ACCESS_LOG_RETENTION_DAYS are purged by `crm.tasks.purge_access_log_task`.
    """

    class Action(models.TextChoices):
        PROFILE = "perfil", "Perfil 360°"
        HISTORY = "historial", "Historial"
        PREVIEW = "preview", "Vista previa de propuesta"
        EXPORT = "exportacion", "Exportación de datos"
        EXPLANATION = "explicacion", "Explicación del perfilamiento"
        TRAY = "bandeja", "Bandeja WhatsApp"

    created_at = models.DateTimeField("fecha", auto_now_add=True, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="usuario",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    # No database constraint: the log must keep saying that someone looked whatever happens to the row later,
    # and the one INSERT per page view should not pay for a constraint check.
    cliente = models.ForeignKey(
        "ventas.Cliente",
        verbose_name="cliente",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    action = models.CharField("acción", max_length=12, choices=Action.choices)

    class Meta:
        verbose_name = "registro de acceso"
        verbose_name_plural = "registro de accesos"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["cliente", "-created_at"], name="crm_accesslog_cliente")]

    def __str__(self):
        return f"{self.user_id} · {self.get_action_display()} · cliente {self.cliente_id}"


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


class Tier(models.TextChoices):
    """Priority tiers of the daily WhatsApp tray, in priority order (the rules: crm.services.whatsapp.tiers)."""

    VIP_DUE = "vip_due", "VIP y Campeones: contacto mensual"
    AT_RISK = "at_risk", "Recién pasaron a En riesgo"
    OVERDUE = "overdue", "Atrasados según su ritmo"
    NEW = "new", "Clientes nuevos (30/60/90 días)"
    DORMANT_VALUE = "dormant_value", "Hibernando o Perdidos de alto valor"


class PlantillaWhatsApp(models.Model):
    """A WhatsApp message template for one tier (and optionally one segment), edited in the admin.

    Variables: {nombre} {ultimo_servicio} {acompanante} {sugerencia} {codigo} {vigencia}. A template that would
    leave a variable empty is not used for that customer. The stop line is appended when building the message.
    """

    nombre = models.CharField("nombre", max_length=100)
    tier = models.CharField("prioridad", max_length=20, choices=Tier.choices)
    segment = models.CharField(
        "segmento", max_length=20, blank=True, default="", help_text="Vacío: sirve para cualquier segmento."
    )
    texto = models.TextField("texto")
    activa = models.BooleanField("activa", default=True)
    meta_template = models.CharField(
        "plantilla aprobada en Meta",
        max_length=100,
        blank=True,
        default="",
        help_text="Solo para WHATSAPP_BACKEND=cloud_api: nombre de la plantilla aprobada por Meta cuyo cuerpo es "
        "{{1}}; el mensaje completo va en ese parámetro.",
    )
    created_at = models.DateTimeField("creada", auto_now_add=True)
    updated_at = models.DateTimeField("modificada", auto_now=True)

    class Meta:
        verbose_name = "plantilla de WhatsApp"
        verbose_name_plural = "plantillas de WhatsApp"
        ordering = ["tier", "segment", "nombre"]

    def __str__(self):
        return self.nombre


class TrayDay(models.Model):
    """The WhatsApp tray of one day: built once (idempotent), then worked by the operators."""

    day = models.DateField("día", unique=True)
    built_at = models.DateTimeField("armada", auto_now_add=True)
    size = models.PositiveIntegerField("tamaño pedido")
    seconds = models.FloatField("segundos", default=0)
    segments_source = models.CharField("segmentos según", max_length=40, blank=True, default="")

    class Meta:
        verbose_name = "bandeja de WhatsApp"
        verbose_name_plural = "bandejas de WhatsApp"
        ordering = ["-day"]

    def __str__(self):
        return f"Bandeja del {self.day:%d-%m-%Y}"


class TrayItem(models.Model):
    """One customer in one day's tray: why, the message, and what happened.

    Holdout items are drawn like the others but never shown or contacted: they are the control group.
    `contacted_at` is set by the first outcome that means a message went out (every outcome but
    `número_equivocado`); it counts one attempt in the customer's contact cycle.
    """

    class Outcome(models.TextChoices):
        SENT = "enviado", "Enviado"
        INTERESTED = "respondió_interesado", "Respondió interesado"
        BOOKED = "reservó", "Reservó"
        LATER = "más_adelante", "Más adelante"
        STOP = "no_contactar", "No contactar"
        WRONG_NUMBER = "número_equivocado", "Número equivocado"

    class ApiStatus(models.TextChoices):
        NONE = "", "Sin envío por API"
        APPROVED = "approved", "Aprobado, por enviar"
        SENDING = "sending", "Enviando"
        SENT = "sent", "Enviado por API"
        FAILED = "failed", "Falló"

    tray = models.ForeignKey(TrayDay, verbose_name="bandeja", on_delete=models.CASCADE, related_name="items")
    cliente = models.ForeignKey("ventas.Cliente", verbose_name="cliente", on_delete=models.CASCADE, related_name="+")
    tier = models.CharField("prioridad", max_length=20, choices=Tier.choices)
    rank = models.PositiveIntegerField("orden")
    segment = models.CharField("segmento", max_length=20, blank=True, default="")
    reason = models.CharField("motivo", max_length=300)
    message = models.TextField("mensaje")
    template = models.ForeignKey(
        PlantillaWhatsApp,
        verbose_name="plantilla",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="items",
    )
    code = models.CharField("código", max_length=20, blank=True, default="")
    holdout = models.BooleanField("grupo de control", default=False)
    operator = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="operador",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    outcome = models.CharField("resultado", max_length=25, choices=Outcome.choices, blank=True, default="")
    outcome_at = models.DateTimeField("resultado registrado", null=True, blank=True)
    contacted_at = models.DateTimeField("contactado", null=True, blank=True)
    api_status = models.CharField(
        "envío por API", max_length=10, choices=ApiStatus.choices, blank=True, default=ApiStatus.NONE
    )
    api_message_id = models.CharField("id del mensaje (API)", max_length=100, blank=True, default="")
    api_error = models.TextField("error de la API", blank=True, default="")

    class Meta:
        verbose_name = "cliente en la bandeja"
        verbose_name_plural = "clientes en la bandeja"
        ordering = ["tray", "rank"]
        constraints = [models.UniqueConstraint(fields=["tray", "cliente"], name="crm_trayitem_once")]
        indexes = [models.Index(fields=["cliente", "tray"], name="crm_trayitem_cliente")]

    def __str__(self):
        return f"{self.tray.day:%d-%m-%Y} · {self.cliente_id} ({self.tier})"


class WhatsAppContact(models.Model):
    """A customer's WhatsApp contact state: attempts in the current cycle, snooze, and a number known to be wrong.

    A cycle starts with the first contact and ends (attempts back to 0) when the customer answers, books, or
    comes back (a new visit after the cycle started). `wrong_phone` holds the number marked as wrong: the
    customer is out of the tray while their phone is still that number.
    """

    cliente = models.OneToOneField(
        "ventas.Cliente",
        verbose_name="cliente",
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="contacto_whatsapp",
    )
    cycle_started_on = models.DateField("ciclo iniciado", null=True, blank=True)
    attempts = models.PositiveSmallIntegerField("intentos en el ciclo", default=0)
    last_contact_at = models.DateTimeField("último contacto", null=True, blank=True)
    snoozed_until = models.DateField("pospuesto hasta", null=True, blank=True)
    wrong_phone = models.CharField("número equivocado", max_length=20, blank=True, default="")

    class Meta:
        verbose_name = "contacto por WhatsApp"
        verbose_name_plural = "contactos por WhatsApp"

    def __str__(self):
        return f"{self.cliente_id}: {self.attempts} intentos"


class ProposalStatistic(models.Model):
    """One precomputed count of everyone's history for live proposals (see crm.services.recommender.stored_stats).

    `kind` is one statistic: "month" (rows of `service` in `month`, 0 for the placeholder date: popularity and
    seasonality), "basket" (rows of `service` on a real date) or "pair" (`service` and `other` taken by the same
    customer on the same day). Names are the history's raw service names; the catalogue maps them at load time.
    """

    MONTH, BASKET, PAIR = "month", "basket", "pair"

    kind = models.CharField("estadística", max_length=10)
    service = models.CharField("servicio", max_length=255)
    other = models.CharField("otro servicio", max_length=255, blank=True, default="")
    month = models.PositiveSmallIntegerField("mes", default=0)
    n = models.BigIntegerField("filas")

    class Meta:
        verbose_name = "estadística de propuestas"
        verbose_name_plural = "estadísticas de propuestas"
        # The live path reads the whole table (~750 rows at scale 40) at once: no lookup index, only uniqueness.
        constraints = [
            models.UniqueConstraint(fields=["kind", "service", "other", "month"], name="crm_proposalstat_once")
        ]

    def __str__(self):
        return f"{self.kind} {self.service} {self.other} {self.month}: {self.n}"


class ProposalStatisticsBuild(models.Model):
    """When the proposal statistics were last rebuilt, and the last day of history they cover (a single row)."""

    built_at = models.DateTimeField("reconstruidas")
    as_of = models.DateField("historial hasta")
    rows = models.IntegerField("filas", default=0)
    seconds = models.FloatField("segundos", default=0)

    class Meta:
        verbose_name = "reconstrucción de estadísticas de propuestas"
        verbose_name_plural = "reconstrucciones de estadísticas de propuestas"

    def __str__(self):
        return f"{self.built_at:%d-%m-%Y %H:%M} (hasta {self.as_of:%d-%m-%Y})"
