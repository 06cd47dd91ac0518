"""Customer search: by name, email or phone, best matches first, optionally within one RFM segment."""

import datetime
import math
from dataclasses import dataclass

from django.core.paginator import Page
from django.db.models import Case, Count, IntegerField, Q, Value, When, Window
from django.utils import timezone

from crm.services.pagination import CountedPaginator, paginate
from crm.services.retention.due_back import overdue_customers, overdue_rows
from crm.services.rfm import (
    Segment,
    annotate_rfm_from_summaries,
    get_segment,
    scored_summaries,
    segment_members_from_summaries,
    stored_scores_valid,
)
from ventas.models import Cliente
from ventas.normalize import phone_search_digits, search_key

MIN_QUERY_LENGTH = 3
MAX_QUERY_LENGTH = 100  # longer input is cut: nobody's name or email is longer, and LIKE stays cheap
PAGE_SIZE = 25


@dataclass(frozen=True)
class SearchResult:
    query: str  # what was searched for, after trimming and truncation
    segment: Segment | None
    page: Page | None  # None when nothing was searched
    message: str = ""  # friendly explanation when no search ran

    @property
    def searched(self) -> bool:
        return self.page is not None


def clean_query(raw: str | None) -> str:
    return " ".join((raw or "").split())[:MAX_QUERY_LENGTH]


def search_customers(
    *,
    query: str = "",
    segment_key: str = "",
    page_number=1,
    as_of: datetime.date | None = None,
    overdue: bool = False,
) -> SearchResult:
    """Search customers; raises KeyError for an unknown segment key.

    The text is matched against the stored, normalised `Cliente.busqueda` ("nombre email", lower-case, no
    accents) with LIKE '%…%' (Django escapes % and _), and, when it looks like a phone, the digits against the
    E.164 `telefono`. A query shorter than MIN_QUERY_LENGTH runs nothing unless a segment is chosen.
    Order: name starting with the query, then a word starting with it, then any match; within each, the
    biggest spenders first. A segment without a query is listed biggest spenders first ("Sin historial": by
    name).

    Segments and figures come from the summary table (`crm.services.summaries`): no query reads the history.
    `overdue`: only customers overdue in some category (crm.services.retention.due_back), alone or combined.
    """
    query = clean_query(query)
    segment = get_segment(segment_key) if segment_key else None
    if len(query) < MIN_QUERY_LENGTH and not segment and overdue:
        customers = overdue_customers(as_of).select_related("valor")
        stored = stored_scores_valid(as_of or timezone.localdate())
        results = annotate_rfm_from_summaries(customers, as_of, stored=stored).order_by("-monetary", "nombre", "pk")
        page = paginate(results, page_number, PAGE_SIZE, count_queryset=overdue_customers(as_of))
        return SearchResult(query="", segment=None, page=page, message="")
    if len(query) < MIN_QUERY_LENGTH and not segment:
        message = (
            f"Escribe al menos {MIN_QUERY_LENGTH} caracteres para buscar por nombre, teléfono o email." if query else ""
        )
        return SearchResult(query=query, segment=None, page=None, message=message)

    message = ""
    if len(query) < MIN_QUERY_LENGTH:
        if query:
            message = f"El texto es muy corto (mínimo {MIN_QUERY_LENGTH} caracteres): se muestra todo el segmento."
        page = _segment_page(segment, page_number, as_of, overdue=overdue)
        return SearchResult(query="", segment=segment, page=page, message=message)

    key = search_key(query)
    digits = phone_search_digits(query)
    match = Q(busqueda__contains=key) if key else Q(pk__in=[])
    if digits:
        match |= Q(telefono__contains=digits)
    stored = stored_scores_valid(as_of or timezone.localdate())
    customers = segment_members_from_summaries(segment.key, as_of, stored=stored) if segment else Cliente.objects.all()
    customers = customers.filter(match).order_by()
    if overdue:
        customers = customers.filter(pk__in=overdue_rows(as_of).values("cliente_id"))
    rank = Case(
        When(busqueda__startswith=key, then=Value(0)),
        When(busqueda__contains=f" {key}", then=Value(1)),
        default=Value(2),
        output_field=IntegerField(),
    )
    # Count on the plain filter; the page joins the summary of the customers shown.
    results = (
        annotate_rfm_from_summaries(customers.select_related("valor"), as_of, stored=stored)
        .annotate(rank=rank)
        .order_by("rank", "-monetary", "nombre", "pk")
    )
    page = paginate(results, page_number, PAGE_SIZE, count_queryset=customers)
    return SearchResult(query=query, segment=segment, page=page, message=message)


def _segment_page(segment: Segment, page_number, as_of: datetime.date | None, *, overdue: bool = False) -> Page:
    """A page of a whole segment, biggest spenders first (customers without history: by name).

    A segment can hold tens of thousands of customers: the order and the page are decided on the summary table
    alone (an index on segment and spend when the stored scores are today's), and only the 25 customers shown
    are loaded.
    """
    as_of = as_of or timezone.localdate()
    stored = stored_scores_valid(as_of)
    if segment.key == "no_history":
        page = paginate(
            segment_members_from_summaries(segment.key, as_of, stored=stored)
            .filter(pk__in=overdue_rows(as_of).values("cliente_id") if overdue else Cliente.objects.values("pk"))
            .order_by("nombre", "pk")
            .values_list("pk", flat=True),
            page_number,
            PAGE_SIZE,
        )
        page_ids = list(page.object_list)
    else:
        page_ids, page = _ranked_segment_page(segment, page_number, as_of, stored, overdue=overdue)
    shown = Cliente.objects.filter(pk__in=page_ids).select_related("valor")  # expected value, same query
    customers = annotate_rfm_from_summaries(shown, as_of, stored=stored).in_bulk()
    page.object_list = [customers[pk] for pk in page_ids]
    return page


def _ranked_segment_page(
    segment: Segment, page_number, as_of: datetime.date, stored: bool, *, overdue: bool = False
) -> tuple[list[int], Page]:
    """Ids of one page of a segment by spend, and its Page; the total comes in the same query (a window count)."""
    members = scored_summaries(as_of, stored=stored).filter(rfm_segment=segment.key)
    if overdue:
        members = members.filter(cliente_id__in=overdue_rows(as_of).values("cliente_id"))
    ranked = (
        members.annotate(total=Window(Count("*")))
        .order_by("-monetary", "cliente_id")
        .values_list("cliente_id", "total")
    )
    try:
        number = max(int(page_number), 1)
    except (TypeError, ValueError):
        number = 1
    rows = list(ranked[(number - 1) * PAGE_SIZE : number * PAGE_SIZE])
    if not rows and number > 1:  # past the end (an old link): count, then show the last page
        number = max(1, math.ceil(members.count() / PAGE_SIZE))
        rows = list(ranked[(number - 1) * PAGE_SIZE : number * PAGE_SIZE])
    paginator = CountedPaginator(ranked, PAGE_SIZE, count=rows[0][1] if rows else 0)
    ids = [cliente_id for cliente_id, _ in rows]
    return ids, Page(ids, number, paginator)
