"""Did a campaign work? Its customers against its random control group (crm.services.campaigns.holdout).

Both groups are measured over the same window: from the day the campaign started to PROPOSAL_CONVERSION_DAYS days
later (real-dated services only). Intention to treat: every customer chosen to be contacted counts, whether or
not the email could be sent (opt-outs, no email), so the comparison keeps the randomisation's fairness; customers
staff dropped in review are left out of both. A customer *converted* with at least one service in the window;
revenue per customer is what they spent in it. One aggregate query.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db.models import Count, DecimalField, Exists, F, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from crm.models import Campaign, CampaignRecipient
from crm.services.retention.uplift import Uplift, conversion_uplift, mean_uplift
from ventas.models import ServiceHistory

R = CampaignRecipient.Status


@dataclass(frozen=True)
class Group:
    customers: int
    converted: int
    revenue: Decimal

    @property
    def conversion(self) -> float:
        return self.converted / self.customers if self.customers else 0.0

    @property
    def revenue_per_customer(self) -> Decimal:
        return self.revenue / self.customers if self.customers else Decimal(0)


@dataclass(frozen=True)
class CampaignEffect:
    start: datetime.date
    end: datetime.date
    contacted: Group
    control: Group
    conversion: Uplift | None
    revenue: Uplift | None

    @property
    def window_open(self) -> bool:
        return self.end >= timezone.localdate()

    @property
    def verdict(self) -> str:
        """The plain-words reading of the conversion uplift."""
        if self.conversion is None:
            return "No hay grupo de control suficiente para medir el efecto de esta campaña."
        if not self.conversion.distinguishable:
            return (
                "La diferencia con el grupo de control no se distingue de cero: con estos números no se puede "
                "afirmar que la campaña haya cambiado la conversión."
            )
        if self.conversion.difference > 0:
            return "La campaña aumentó la conversión: la diferencia con el grupo de control es clara (95%)."
        return "Los contactados convirtieron menos que el grupo de control, y la diferencia es clara (95%)."


def campaign_effect(campaign: Campaign) -> CampaignEffect:
    start = timezone.localdate(campaign.created_at)
    end = start + datetime.timedelta(days=settings.PROPOSAL_CONVERSION_DAYS)
    window = ServiceHistory.objects.with_real_dates().filter(
        cliente_id=OuterRef("cliente_id"), service_date__gte=start, service_date__lte=end
    )
    money = DecimalField(max_digits=14, decimal_places=2)
    spent = Coalesce(
        Subquery(window.order_by().values("cliente_id").annotate(total=Sum("price_paid")).values("total")[:1]),
        Value(Decimal(0)),
        output_field=money,
    )
    rows = CampaignRecipient.objects.filter(campaign=campaign).exclude(status=R.DROPPED)
    rows = rows.annotate(spent=spent, converted=Exists(window))
    control, contacted = Q(status=R.CONTROL), ~Q(status=R.CONTROL)
    figures = rows.aggregate(
        n_contacted=Count("pk", filter=contacted),
        n_control=Count("pk", filter=control),
        conv_contacted=Count("pk", filter=contacted & Q(converted=True)),
        conv_control=Count("pk", filter=control & Q(converted=True)),
        sum_contacted=Sum("spent", filter=contacted, output_field=money),
        sum_control=Sum("spent", filter=control, output_field=money),
        sq_contacted=Sum(F("spent") * F("spent"), filter=contacted, output_field=money),
        sq_control=Sum(F("spent") * F("spent"), filter=control, output_field=money),
    )

    def group(name: str) -> Group:
        return Group(figures[f"n_{name}"], figures[f"conv_{name}"], Decimal(figures[f"sum_{name}"] or 0))

    a, b = group("contacted"), group("control")
    return CampaignEffect(
        start=start,
        end=end,
        contacted=a,
        control=b,
        conversion=conversion_uplift(a.converted, a.customers, b.converted, b.customers),
        revenue=mean_uplift(
            float(a.revenue),
            float(figures["sq_contacted"] or 0),
            a.customers,
            float(b.revenue),
            float(figures["sq_control"] or 0),
            b.customers,
        ),
    )
