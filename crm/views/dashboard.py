from django.shortcuts import render

from crm.services.dashboard import dashboard_stats
from crm.views.access import staff_required


@staff_required
def crm_dashboard(request):
    return render(request, "crm/dashboard.html", {"nav": "dashboard", "stats": dashboard_stats()})
