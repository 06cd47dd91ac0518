from django.shortcuts import render

from crm.services.dashboard import dashboard_stats
from crm.services.retention.report import retention_highlights
from crm.views.access import crm_view


@crm_view("ventas.view_cliente")
def crm_dashboard(request):
    context = {"nav": "dashboard", "stats": dashboard_stats(), "retencion": retention_highlights()}
    return render(request, "crm/dashboard.html", context)
