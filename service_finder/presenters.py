"""Stored records into the shapes callers see."""

from __future__ import annotations

from datetime import date
from math import ceil

from service_finder.domain.provenance import is_stale
from service_finder.domain.taxonomy import KINDS
from service_finder.schemas import RemovedService, ServicePage, ServicePublic
from service_finder.storage.repository import Page, StoredService


def public_service(stored: StoredService, *, today: date) -> ServicePublic:
    record = stored.record
    info = KINDS[record.kind]
    return ServicePublic(
        **dict(record),
        kind_label=info.label,
        mhsds_team_type=info.mhsds_team_type,
        demo=record.is_demo,
        stale=is_stale(record.provenance.verified_at, record.provenance.verify_due, today),
        created_at=stored.created_at,
        last_modified=stored.last_modified,
        revision=stored.revision,
    )


def read_etag(stored: StoredService, public: ServicePublic) -> str:
    """The ETag a read and a write of this service both send: its revision (what editors send back in If-Match) and
    its freshness, so a cached copy never keeps saying "verified" after the record's review date has passed."""
    return f'"{stored.record.id}-r{stored.revision}-{"stale" if public.stale else "fresh"}"'


def service_page(page: Page, *, number: int, per_page: int, today: date) -> ServicePage:
    return ServicePage(
        total_items=page.total,
        page=number,
        per_page=per_page,
        total_pages=max(1, ceil(page.total / per_page)),
        items=[public_service(s, today=today) for s in page.items],
        unreadable=list(page.unreadable),
        removed=[RemovedService(id=ident, removed_at=at) for ident, at in page.removed],
    )
