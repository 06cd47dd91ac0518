from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from ventas.normalize import looks_like_rut, normalize_phone, normalize_rut, search_key, season_of


class Cliente(models.Model):
    nombre = models.CharField("nombre", max_length=200)
    email = models.EmailField("email", blank=True, default="")
    telefono = models.CharField(
        "teléfono",
        max_length=20,
        null=True,
        blank=True,
        unique=True,
        help_text="Se guarda en formato E.164, por ejemplo +56912345678.",
    )
    documento_identidad = models.CharField("documento de identidad", max_length=20, blank=True, default="")
    pais = models.CharField("país", max_length=60, blank=True, default="Chile")
    ciudad = models.CharField("ciudad", max_length=100, blank=True, default="")
    created_at = models.DateTimeField("creado", default=timezone.now, db_index=True)
    acepta_marketing = models.BooleanField(
        "acepta propuestas", default=True, help_text="Se desmarca cuando el cliente se da de baja."
    )
    fecha_baja = models.DateTimeField("fecha de baja", null=True, blank=True)
    # Ley 21.719 art. 4: while either date is set the customer is left out of proposals, AI engines and
    # campaigns. Set and lifted only through crm.services.privacy (each change logged as a DataRequest), so
    # not editable in the admin's form.
    bloqueo_desde = models.DateTimeField("bloqueo temporal desde", null=True, blank=True, editable=False)
    oposicion_desde = models.DateTimeField("oposición al perfilamiento desde", null=True, blank=True, editable=False)
    # Lower-case, accent-free "nombre email" for search; kept in sync by save().
    busqueda = models.CharField(max_length=400, editable=False, default="", db_index=True)

    class Meta:
        verbose_name = "cliente"
        verbose_name_plural = "clientes"
        ordering = ["nombre"]

    def __str__(self):
        return self.nombre

    def save(self, *args, **kwargs):
        self.nombre = " ".join((self.nombre or "").split())
        self.email = (self.email or "").strip().lower()
        self.telefono = normalize_phone(self.telefono) if self.telefono else None
        if self.documento_identidad and looks_like_rut(self.documento_identidad):
            self.documento_identidad = normalize_rut(self.documento_identidad) or self.documento_identidad
        self.busqueda = self.search_text(self.nombre, self.email)
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and {"nombre", "email"} & set(update_fields):
            kwargs["update_fields"] = {*update_fields, "busqueda"}
        super().save(*args, **kwargs)

    def clean(self):
        errors = {}
        if self.telefono:
            phone = normalize_phone(self.telefono)
            if phone is None:
                errors["telefono"] = "El teléfono no es válido."
            else:
                self.telefono = phone
        if self.documento_identidad and looks_like_rut(self.documento_identidad):
            rut = normalize_rut(self.documento_identidad)
            if rut is None:
                errors["documento_identidad"] = "El RUT no es válido: el dígito verificador no corresponde."
            else:
                self.documento_identidad = rut
        if errors:
            raise ValidationError(errors)

    @staticmethod
    def search_text(nombre: str, email: str) -> str:
        return search_key(f"{nombre} {email or ''}")[:400]

    @property
    def profiling_restricted(self) -> bool:
        """Blocked or objecting to profiling: no proposals, AI engines or campaigns until lifted."""
        return bool(self.bloqueo_desde or self.oposicion_desde)

    def unsubscribe(self, when=None, *, source: str = "", user=None) -> bool:
        """Record the opt-out from commercial email (Chilean consumer law) and its consent event.

        Idempotent: a customer already out keeps the first date and gets no second event. Returns whether
        anything changed. `source` is a ConsentEvent.Source (default: the unsubscribe link).
        """
        when = when or timezone.now()
        changed = Cliente.objects.filter(pk=self.pk, acepta_marketing=True).update(
            acepta_marketing=False, fecha_baja=when
        )
        self.refresh_from_db(fields=["acepta_marketing", "fecha_baja"])
        if changed:
            ConsentEvent.objects.create(
                cliente=self,
                channel=ConsentEvent.Channel.EMAIL,
                granted=False,
                source=source or ConsentEvent.Source.LINK,
                text=ConsentEvent.UNSUBSCRIBE_TEXT,
                created_by=user if getattr(user, "is_authenticated", False) else None,
                created_at=when,
            )
        return bool(changed)


class ConsentEvent(models.Model):
    """One change of a customer's consent to commercial messages (Ley 21.719): append-only.

    The current state of a channel is its latest event (email also mirrors `Cliente.acepta_marketing`, which
    the sending rules read). Rows are never updated or deleted, not even by erasure: they hold no identifiers.
    """

    class Channel(models.TextChoices):
        EMAIL = "email", "Email"
        WHATSAPP = "whatsapp", "WhatsApp"

    class Source(models.TextChoices):
        IMPORT = "import", "Importación"
        STAFF = "staff", "Personal de Aremko"
        LINK = "link", "Enlace de baja"
        ONE_CLICK = "one_click", "Baja en un clic"

    UNSUBSCRIBE_TEXT = "Enlace «darse de baja» incluido en cada propuesta por email."
    IMPORT_TEXT = "Cliente del sistema de reservas de Aremko, importado desde su exportación (no se dio de baja allí)."

    cliente = models.ForeignKey(
        Cliente, verbose_name="cliente", on_delete=models.CASCADE, related_name="eventos_consentimiento"
    )
    channel = models.CharField("canal", max_length=10, choices=Channel.choices)
    granted = models.BooleanField("otorga", help_text="Sí: otorga el consentimiento; no: lo retira.")
    source = models.CharField("origen", max_length=12, choices=Source.choices)
    text = models.CharField("texto mostrado", max_length=500, blank=True, default="")
    version = models.CharField("versión del texto", max_length=40, blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="registrado por",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField("fecha", default=timezone.now, db_index=True)

    class Meta:
        verbose_name = "evento de consentimiento"
        verbose_name_plural = "eventos de consentimiento"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["cliente", "-created_at"], name="ventas_consent_cliente_created")]

    def __str__(self):
        action = "otorga" if self.granted else "retira"
        return f"{self.get_channel_display()}: {action} ({self.get_source_display()})"

    def save(self, *args, **kwargs):
        if self.pk is not None and not self._state.adding:
            raise ValueError("Los eventos de consentimiento no se modifican: registra uno nuevo.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Los eventos de consentimiento no se borran.")


class CategoriaServicio(models.Model):
    nombre = models.CharField("nombre", max_length=100, unique=True)

    class Meta:
        verbose_name = "categoría de servicio"
        verbose_name_plural = "categorías de servicio"
        ordering = ["nombre"]

    def __str__(self):
        return self.nombre


class Servicio(models.Model):
    class Tipo(models.TextChoices):
        TINA = "tina", "Tina"
        MASAJE = "masaje", "Masaje"
        CABANA = "cabana", "Cabaña"
        OTRO = "otro", "Otro"

    nombre = models.CharField("nombre", max_length=200, unique=True)
    categoria = models.ForeignKey(
        CategoriaServicio, verbose_name="categoría", on_delete=models.PROTECT, related_name="servicios"
    )
    tipo_servicio = models.CharField("tipo", max_length=10, choices=Tipo.choices, default=Tipo.OTRO)
    precio_base = models.PositiveIntegerField("precio base (CLP)")
    duracion = models.PositiveSmallIntegerField("duración (minutos)", default=60)
    activo = models.BooleanField("activo", default=True)
    descripcion = models.TextField("descripción", blank=True, default="")

    class Origen(models.TextChoices):
        ADMIN = "admin", "Creado o editado en Administración"
        HISTORIAL = "historial", "Aprendido del historial"

    # Imports update services learned from the history, never those staff created or edited (issue 9).
    origen = models.CharField("origen", max_length=10, choices=Origen.choices, default=Origen.ADMIN)

    class Meta:
        verbose_name = "servicio"
        verbose_name_plural = "servicios"
        ordering = ["categoria__nombre", "nombre"]

    def __str__(self):
        return self.nombre


class ServicioAlias(models.Model):
    """Another name of a catalogue service (`Masaje relajacion` -> `Masaje Relajación`).

    History lines written with the alias map to the service on import; merging services in admin makes the
    merged ones aliases of the one kept. `clave` is the name's `search_key`, so case and accents never matter.
    """

    nombre = models.CharField("nombre", max_length=255)
    clave = models.CharField("clave", max_length=255, unique=True, editable=False)
    servicio = models.ForeignKey(Servicio, verbose_name="servicio", on_delete=models.CASCADE, related_name="alias")

    class Meta:
        verbose_name = "alias de servicio"
        verbose_name_plural = "alias de servicios"
        ordering = ["nombre"]

    def __str__(self):
        return f"{self.nombre} → {self.servicio_id and self.servicio.nombre}"

    def save(self, *args, **kwargs):
        self.nombre = " ".join((self.nombre or "").split())
        self.clave = search_key(self.nombre)
        super().save(*args, **kwargs)


class CategoriaProducto(models.Model):
    nombre = models.CharField("nombre", max_length=100, unique=True)

    class Meta:
        verbose_name = "categoría de producto"
        verbose_name_plural = "categorías de producto"
        ordering = ["nombre"]

    def __str__(self):
        return self.nombre


class Producto(models.Model):
    nombre = models.CharField("nombre", max_length=200, unique=True)
    categoria = models.ForeignKey(
        CategoriaProducto, verbose_name="categoría", on_delete=models.PROTECT, related_name="productos"
    )
    precio_base = models.PositiveIntegerField("precio (CLP)")
    activo = models.BooleanField("activo", default=True)
    descripcion = models.TextField("descripción", blank=True, default="")

    class Meta:
        verbose_name = "producto"
        verbose_name_plural = "productos"
        ordering = ["nombre"]

    def __str__(self):
        return self.nombre


class ServiceHistoryQuerySet(models.QuerySet):
    @staticmethod
    def real_date_q() -> models.Q:
        """The placeholder-date rule, once: legacy exports put unknown dates on HISTORY_PLACEHOLDER_DATE.

        Those rows count for frequency and spend, never for recency, seasonality or visits. Aggregates use this Q
        in `filter=`; raw SQL embeds the SQL of a queryset filtered by it.
        """
        return ~models.Q(service_date=settings.HISTORY_PLACEHOLDER_DATE)

    def with_real_dates(self):
        """Rows whose date is known (see `real_date_q`)."""
        return self.filter(self.real_date_q())


class ServiceHistory(models.Model):
    """One service a customer took, as recorded by the legacy booking system.

    The table `crm_service_history` belongs to the legacy system: Django does not manage it, and migration
    ventas 0002 only creates it where it does not exist yet.
    """

    cliente = models.ForeignKey(
        Cliente, verbose_name="cliente", on_delete=models.CASCADE, related_name="historial_servicios"
    )
    reserva_id = models.CharField("reserva", max_length=50, blank=True, null=True)  # noqa: DJ001 legacy column
    service_type = models.CharField("categoría", max_length=100)
    service_name = models.CharField("servicio", max_length=255)
    service_date = models.DateField("fecha")
    quantity = models.IntegerField("cantidad", default=1)
    price_paid = models.DecimalField("precio pagado", max_digits=12, decimal_places=2, default=0)
    season = models.CharField("temporada", max_length=20, blank=True, null=True)  # noqa: DJ001 legacy column
    year = models.IntegerField("año", blank=True, null=True)

    objects = ServiceHistoryQuerySet.as_manager()

    class Meta:
        managed = False
        db_table = "crm_service_history"
        verbose_name = "servicio histórico"
        verbose_name_plural = "historial de servicios"
        ordering = ["-service_date", "-id"]

    def __str__(self):
        return f"{self.service_name} ({self.service_date:%d-%m-%Y})"

    def save(self, *args, **kwargs):
        if self.service_date:
            self.season = season_of(self.service_date)
            self.year = self.service_date.year
        super().save(*args, **kwargs)

    @property
    def date_is_placeholder(self) -> bool:
        return self.service_date == settings.HISTORY_PLACEHOLDER_DATE


class ImportRun(models.Model):
    """One import of a legacy export (clients or service history), with its summary and rejection report.

    Small uploads import inline and are stored when done; dry runs of those are not stored (they change
    nothing). An upload above `IMPORT_INLINE_MAX_BYTES` is kept in `source` and imported by a background task:
    its run goes queued → running (rows read so far in `rows_read`) → done or failed, dry runs included.
    """

    class Kind(models.TextChoices):
        CLIENTS = "clientes", "Clientes"
        HISTORY = "historial", "Historial de servicios"

    class Status(models.TextChoices):
        QUEUED = "en_cola", "En cola"
        RUNNING = "en_curso", "En curso"
        DONE = "terminada", "Terminada"
        FAILED = "fallida", "Fallida"

    kind = models.CharField("tipo", max_length=20, choices=Kind.choices)
    file_name = models.CharField("archivo", max_length=255)
    created_at = models.DateTimeField("fecha", default=timezone.now, db_index=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="importado por",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    rows_read = models.PositiveIntegerField("filas leídas", default=0)
    imported = models.PositiveIntegerField("importadas", default=0)
    duplicates = models.PositiveIntegerField("duplicadas (ya estaban)", default=0)
    rejected = models.PositiveIntegerField("rechazadas", default=0)
    flagged = models.PositiveIntegerField("con fecha provisoria", default=0)
    customers_created = models.PositiveIntegerField("clientes creados", default=0)
    shared_contacts = models.PositiveIntegerField("contactos compartidos", default=0)
    services_added = models.PositiveIntegerField("servicios agregados", default=0)
    seconds = models.FloatField("segundos", default=0)
    report = models.FileField("reporte", upload_to="importaciones/", blank=True)
    status = models.CharField("estado", max_length=12, choices=Status.choices, default=Status.DONE)
    dry_run = models.BooleanField("simulación", default=False)
    # The uploaded file while a background import waits for it or reads it; deleted when the run ends.
    source = models.FileField("archivo subido", upload_to="importaciones/pendientes/", blank=True)
    summary = models.JSONField("resumen", default=list, blank=True)  # ImportSummary.lines(), when done
    error = models.TextField("error", blank=True)
    finished_at = models.DateTimeField("terminada el", null=True, blank=True)
    # Background runs: the worker renews the lease after every batch; `ventas.importing.recovery` queues a run
    # whose lease expired again (its worker died) and counts the attempts.
    lease_expires_at = models.DateTimeField("plazo del proceso", null=True, blank=True)
    attempts = models.PositiveSmallIntegerField("intentos", default=0)

    class Meta:
        verbose_name = "importación"
        verbose_name_plural = "importaciones"
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.get_kind_display()}: {self.file_name}"

    @property
    def in_progress(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.RUNNING)


class ImportedRow(models.Model):
    """Natural key of every imported history line, so importing the same file twice adds nothing the second time.

    Kept here, not in `crm_service_history`: that table belongs to the legacy system and gets no new columns.
    `key` is a signed 64-bit digest of the line's natural key (customer, date, service, amount, quantity, booking
    and occurrence in the file): an integer unique index inserts several times faster than a text one, and a
    collision needs billions of lines. `history_id` records the row it created (provenance only: it is not a
    foreign key, so deleting history never has to touch this table).
    """

    source = models.CharField("origen", max_length=20, choices=ImportRun.Kind.choices)
    key = models.BigIntegerField("clave", unique=True)
    run = models.ForeignKey(
        ImportRun,
        verbose_name="importación",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        db_constraint=False,  # one constraint check per imported line slows big imports; Django keeps the link
        related_name="rows",
    )
    line = models.PositiveIntegerField("línea")
    history_id = models.BigIntegerField("id en el historial", null=True, blank=True)
    # Digest of the line's cells as written, so a re-import knows it without parsing it (importing/lines.py);
    # empty for lines imported before it existed (filled when they are imported again).
    line_hash = models.BigIntegerField("huella de la línea", null=True, blank=True, editable=False)

    class Meta:
        verbose_name = "fila importada"
        verbose_name_plural = "filas importadas"
        indexes = [
            models.Index(
                fields=["line_hash"], name="importedrow_line_hash", condition=models.Q(line_hash__isnull=False)
            ),
        ]

    def __str__(self):
        return f"{self.get_source_display()}, línea {self.line}"
