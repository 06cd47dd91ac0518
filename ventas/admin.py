from django.contrib import admin

from ventas.models import CategoriaProducto, CategoriaServicio, Cliente, Producto, ServiceHistory, Servicio


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


@admin.register(Servicio)
class ServicioAdmin(admin.ModelAdmin):
    list_display = ["nombre", "categoria", "tipo_servicio", "precio_base", "duracion", "activo"]
    list_filter = ["activo", "tipo_servicio", "categoria"]
    list_editable = ["activo"]
    search_fields = ["nombre", "descripcion"]
    list_select_related = ["categoria"]


@admin.register(Producto)
class ProductoAdmin(admin.ModelAdmin):
    list_display = ["nombre", "categoria", "precio_base", "activo"]
    list_filter = ["activo", "categoria"]
    search_fields = ["nombre"]
    list_select_related = ["categoria"]


@admin.register(ServiceHistory)
class ServiceHistoryAdmin(admin.ModelAdmin):
    list_display = ["service_date", "cliente", "service_name", "service_type", "price_paid", "season"]
    list_filter = ["service_type", "season", "year"]
    date_hierarchy = "service_date"
    search_fields = ["cliente__nombre", "service_name"]
    list_select_related = ["cliente"]
    raw_id_fields = ["cliente"]
    show_full_result_count = False
    list_per_page = 100
    # Counting a million rows on every page would make the list slow; the paginator shows "más".
    ordering = ["-service_date", "-id"]
