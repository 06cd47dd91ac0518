from django.urls import path

from crm.views import campaigns, customers, dashboard, email, privacy, proposals, results, retention, search

urlpatterns = [
    path("crm/cliente/<int:cliente_id>/enviar/", email.enviar_propuesta, name="crm_enviar_propuesta"),
    path("crm/baja/<str:token>/", email.baja, name="crm_baja"),
    path("crm/campanas/", campaigns.campanas, name="crm_campanas"),
    path("crm/campanas/iniciar/", campaigns.campana_iniciar, name="crm_campana_iniciar"),
    path("crm/campanas/<int:campaign_id>/", campaigns.campana, name="crm_campana"),
    path("crm/campanas/<int:campaign_id>/progreso/", campaigns.campana_progreso, name="crm_campana_progreso"),
    path("crm/campanas/<int:campaign_id>/aprobar/", campaigns.campana_aprobar, name="crm_campana_aprobar"),
    path("crm/campanas/<int:campaign_id>/cancelar/", campaigns.campana_cancelar, name="crm_campana_cancelar"),
    path("crm/campanas/<int:campaign_id>/reanudar/", campaigns.campana_reanudar, name="crm_campana_reanudar"),
    path(
        "crm/campanas/<int:campaign_id>/propuesta/<int:recipient_id>/decidir/",
        campaigns.campana_decidir,
        name="crm_campana_decidir",
    ),
    path(
        "crm/campanas/<int:campaign_id>/propuesta/<int:recipient_id>/",
        campaigns.campana_destinatario,
        name="crm_campana_destinatario",
    ),
    path(
        "crm/campanas/<int:campaign_id>/propuesta/<int:recipient_id>/descartar/",
        campaigns.campana_descartar,
        name="crm_campana_descartar",
    ),
    path("crm/propuestas/", results.propuestas, name="crm_propuestas"),
    path("crm/retencion/", retention.retencion, name="crm_retencion"),
    path("crm/retencion/atrasados/", retention.atrasados, name="crm_retencion_atrasados"),
    path("crm/retencion/movimiento/", retention.movimiento, name="crm_retencion_movimiento"),
    path("crm/", dashboard.crm_dashboard, name="crm_dashboard"),
    path("crm/buscar/", search.crm_buscar, name="crm_buscar"),
    path("crm/cliente/<int:cliente_id>/", customers.cliente_detalle, name="cliente_detalle"),
    path("crm/cliente/<int:cliente_id>/historial/", customers.historial_servicios, name="historial_servicios"),
    path("crm/cliente/<int:cliente_id>/propuesta/", proposals.generar_propuesta, name="generar_propuesta"),
    path("crm/cliente/<int:cliente_id>/preview/", proposals.propuesta_preview, name="propuesta_preview"),
    path("crm/propuesta/<int:proposal_id>/email/", proposals.propuesta_email, name="propuesta_email"),
    path("crm/cliente/<int:cliente_id>/privacidad/exportar/", privacy.exportar, name="privacidad_exportar"),
    path("crm/cliente/<int:cliente_id>/privacidad/eliminar/", privacy.eliminar, name="privacidad_eliminar"),
    path("crm/cliente/<int:cliente_id>/privacidad/restriccion/", privacy.restriccion, name="privacidad_restriccion"),
    path(
        "crm/cliente/<int:cliente_id>/privacidad/consentimiento/",
        privacy.consentimiento,
        name="privacidad_consentimiento",
    ),
    path("crm/cliente/<int:cliente_id>/privacidad/explicacion/", privacy.explicacion, name="privacidad_explicacion"),
]
