from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from ventas.formatting import format_clp, format_number
from ventas.importing.catalogue import merge_services
from ventas.importing.readers import ImportFileError
from ventas.importing.services import (
    import_uploaded_file,
    is_large_upload,
    queue_uploaded_file,
    safe_report_lines,
)
from ventas.models import (
    CategoriaProducto,
    CategoriaServicio,
    Cliente,
    ImportRun,
    Producto,
    ServiceHistory,
    Servicio,
    ServicioAlias,
)
from ventas.tasks import import_file_task


def money_column(field: str, description: str):
    """An admin column showing a CLP field as the CRM does ($95.200), sortable by the field."""

    @admin.display(description=description, ordering=field)
    def column(self, obj):
        return format_clp(getattr(obj, field))

    column.__name__ = f"{field}_clp"
    return column


@admin.register(Cliente)
class ClienteAdmin(admin.ModelAdmin):
    list_display = ["nombre", "email", "telefono", "ciudad", "acepta_marketing", "created_at"]
    list_filter = ["acepta_marketing", "pais", "ciudad"]
    search_fields = ["nombre", "busqueda", "email", "telefono", "documento_identidad"]
    readonly_fields = ["created_at", "fecha_baja"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    list_per_page = 50


@admin.register(CategoriaServicio, CategoriaProducto)
class CategoriaAdmin(admin.ModelAdmin):
    search_fields = ["nombre"]


class ServicioAliasInline(admin.TabularInline):
    model = ServicioAlias
    extra = 0
    fields = ["nombre"]


class MergeServicesForm(forms.Form):
    destino = forms.ModelChoiceField(
        label="Servicio que se conserva",
        queryset=Servicio.objects.none(),
        widget=forms.RadioSelect,
        empty_label=None,
        help_text="Los demás pasan a ser alias de este: sus nombres y su historial lo siguen.",
    )

    def __init__(self, *args, services, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["destino"].queryset = services


@admin.register(Servicio)
class ServicioAdmin(admin.ModelAdmin):
    list_display = ["nombre", "categoria", "tipo_servicio", "precio_base_clp", "duracion", "activo", "origen"]
    list_filter = ["activo", "origen", "tipo_servicio", "categoria"]
    list_editable = ["activo"]
    search_fields = ["nombre", "descripcion", "alias__nombre"]
    list_select_related = ["categoria"]
    readonly_fields = ["origen"]
    inlines = [ServicioAliasInline]
    actions = ["merge"]
    precio_base_clp = money_column("precio_base", "precio base")

    def save_model(self, request, obj, form, change):
        # A service staff touched is theirs: imports never overwrite it again.
        obj.origen = Servicio.Origen.ADMIN
        super().save_model(request, obj, form, change)

    @admin.action(description="Fusionar los servicios seleccionados", permissions=["change", "delete"])
    def merge(self, request, queryset):
        services = queryset.select_related("categoria").order_by("nombre")
        if services.count() < 2:
            self.message_user(request, "Selecciona al menos dos servicios para fusionarlos.", messages.WARNING)
            return None
        form = MergeServicesForm(request.POST if "destino" in request.POST else None, services=services)
        if form.is_valid():
            target = form.cleaned_data["destino"]
            result = merge_services(target=target, others=[s for s in services if s.pk != target.pk])
            self.message_user(
                request,
                f"«{target.nombre}» ahora incluye {services.count() - 1} servicio(s) más: "
                f"{format_number(result.aliases)} alias nuevos, {format_number(result.history_rows)} filas del "
                "historial con su nombre.",
                messages.SUCCESS,
            )
            return None
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Fusionar servicios",
            "form": form,
            "services": services,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/ventas/servicio/merge.html", context)


@admin.register(Producto)
class ProductoAdmin(admin.ModelAdmin):
    list_display = ["nombre", "categoria", "precio_base_clp", "activo"]
    list_filter = ["activo", "categoria"]
    search_fields = ["nombre"]
    list_select_related = ["categoria"]
    precio_base_clp = money_column("precio_base", "precio")


@admin.register(ServiceHistory)
class ServiceHistoryAdmin(admin.ModelAdmin):
    # Fits a 1366 px screen beside the admin's sidebars: the season stays a filter, the customer's name wraps
    # (a ForeignKey column never does), money is one short column.
    list_display = ["service_date", "customer", "service_name", "service_type", "price_paid_clp"]
    list_filter = ["service_type", "season", "year"]
    date_hierarchy = "service_date"
    search_fields = ["cliente__nombre", "service_name"]
    list_select_related = ["cliente"]
    raw_id_fields = ["cliente"]
    show_full_result_count = False
    list_per_page = 100
    # Counting a million rows on every page would make the list slow; the paginator shows "más".
    ordering = ["-service_date", "-id"]
    change_list_template = "admin/ventas/servicehistory/change_list.html"  # adds "Importar historial"
    price_paid_clp = money_column("price_paid", "pagado")

    @admin.display(description="cliente", ordering="cliente__nombre")
    def customer(self, obj):
        return obj.cliente.nombre


# Imports of the legacy exports ---------------------------------------------------------------------------------
class ImportUploadForm(forms.Form):
    archivo = forms.FileField(label="Archivo", help_text="CSV (UTF-8, UTF-8 con BOM, Latin-1/Windows-1252) o .xlsx")
    tipo = forms.ChoiceField(label="Contenido", choices=ImportRun.Kind.choices, initial=ImportRun.Kind.HISTORY)
    simular = forms.BooleanField(
        label="Solo simular", required=False, help_text="Muestra el resumen sin guardar ningún cambio."
    )


@admin.register(ImportRun)
class ImportRunAdmin(admin.ModelAdmin):
    """Past imports (read-only), the "Importar historial" upload page and the status page of a background run."""

    list_display = [
        "created_at",
        "status",
        "kind",
        "file_name",
        "rows_read",
        "imported",
        "duplicates",
        "rejected",
        "flagged",
        "customers_created",
        "shared_contacts",
        "services_added",
        "created_by",
    ]
    list_filter = ["kind", "status"]
    list_select_related = ["created_by"]
    readonly_fields = [
        field.name for field in ImportRun._meta.fields if field.name not in {"report", "source", "summary"}
    ] + ["status_link", "summary_lines", "report_link"]
    exclude = ["source", "summary"]  # the waiting upload is not a download; the summary shows as lines
    change_list_template = "admin/ventas/importrun/change_list.html"

    def has_add_permission(self, request):
        return False  # runs are created by importing a file, never typed in

    def has_change_permission(self, request, obj=None):
        return False

    def can_import(self, request) -> bool:
        return request.user.has_perm("ventas.add_importrun")

    def get_urls(self):
        return [
            path("importar/", self.admin_site.admin_view(self.import_view), name="ventas_importrun_import"),
            path("<int:pk>/reporte/", self.admin_site.admin_view(self.report_view), name="ventas_importrun_report"),
            path("<int:pk>/estado/", self.admin_site.admin_view(self.status_view), name="ventas_importrun_status"),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, {**(extra_context or {}), "can_import": self.can_import(request)})

    def import_view(self, request):
        if not self.can_import(request):
            raise PermissionDenied("No tiene permiso para importar archivos.")
        form = ImportUploadForm(request.POST or None, request.FILES or None)
        result, status = None, 200
        if request.method == "POST":
            if form.is_valid():
                upload, kind, dry_run = (form.cleaned_data[name] for name in ("archivo", "tipo", "simular"))
                if is_large_upload(upload):
                    run = queue_uploaded_file(
                        upload, kind=kind, dry_run=dry_run, user=request.user, enqueue=import_file_task.enqueue
                    )
                    return HttpResponseRedirect(reverse("admin:ventas_importrun_status", args=[run.pk]))
                try:
                    result = import_uploaded_file(upload, kind=kind, dry_run=dry_run, user=request.user)
                except ImportFileError as exc:
                    form.add_error("archivo", f"No se importó nada: {exc}")
            if not form.is_valid():
                status = 400
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Importar historial",
            "form": form,
            "result": result,
            "inline_max": f"{settings.IMPORT_INLINE_MAX_BYTES / (1024 * 1024):.0f} MB",
        }
        return TemplateResponse(request, "admin/ventas/importrun/import.html", context, status=status)

    def status_view(self, request, pk):
        run = self.get_object(request, str(pk))
        if run is None or not self.has_view_permission(request, run):
            raise Http404("No existe esa importación.")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Importación de {run.file_name}",
            "run": run,
        }
        return TemplateResponse(request, "admin/ventas/importrun/status.html", context)

    @admin.display(description="avance")
    def status_link(self, run):
        url = reverse("admin:ventas_importrun_status", args=[run.pk])
        return format_html('<a href="{}">Ver estado y avance</a>', url)

    @admin.display(description="resumen")
    def summary_lines(self, run):
        return format_html_join("\n", "{}<br>", ((line,) for line in run.summary)) if run.summary else "—"

    @admin.display(description="reporte")
    def report_link(self, run):
        if not run.report:
            return "—"
        url = reverse("admin:ventas_importrun_report", args=[run.pk])
        return format_html('<a href="{}" download>Descargar reporte (CSV)</a>', url)

    def report_view(self, request, pk):
        run = self.get_object(request, str(pk))
        if run is None or not self.has_view_permission(request, run):
            raise Http404("No existe esa importación.")
        if not run.report:
            raise Http404("Esta importación no tiene reporte.")
        # Streamed through csv_safe again: reports stored before issue 10 may hold raw `=cmd|…` cells.
        response = StreamingHttpResponse(safe_report_lines(run), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="reporte-importacion-{run.pk}.csv"'
        return response
