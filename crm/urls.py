from django.urls import path

from crm.views import dashboard

urlpatterns = [
    path("crm/", dashboard.crm_dashboard, name="crm_dashboard"),
]
