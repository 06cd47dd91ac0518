"""Pagination that counts once per page, on the cheapest queryset that gives the right number."""

from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.utils.functional import cached_property


class CountedPaginator(Paginator):
    """A Paginator whose total comes from `count_queryset` (e.g. without RFM annotations) or a known number.

    Django's Paginator would run `COUNT(*)` over the annotated, grouped queryset; here the count is taken from
    a plain filter (or passed in when an aggregate already computed it), once, and cached for the request.
    """

    def __init__(self, object_list, per_page, *, count_queryset: QuerySet | None = None, count: int | None = None):
        super().__init__(object_list, per_page)
        self._count_queryset = count_queryset
        self._known_count = count

    @cached_property
    def count(self) -> int:
        if self._known_count is not None:
            return self._known_count
        if self._count_queryset is not None:
            return self._count_queryset.count()
        return super().count


def paginate(queryset, page_number, per_page: int, **count_source) -> Page:
    """The requested page; out-of-range or non-numeric page numbers fall back to the first or last page."""
    return CountedPaginator(queryset, per_page, **count_source).get_page(page_number)
