from django.shortcuts import render

from crm.services.dashboard import dashboard_stats
from crm.views.access import crm_view


@crm_view("ventas.view_cliente")
def crm_dashboard(request):
    return render(request, "crm/dashboard.html", {"nav": "dashboard", "stats": dashboard_stats()})
