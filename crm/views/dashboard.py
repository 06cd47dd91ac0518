from django.shortcuts import render

from crm.services.dashboard import dashboard_page
from crm.views.access import crm_view


@crm_view("ventas.view_cliente")
def crm_dashboard(request):
    page = dashboard_page()
    context = {"nav": "dashboard", "version": page.version, "stats": page.stats, "retencion": page.retention}
    return render(request, "crm/dashboard.html", context)
