"""PDF documents for a user: what the PDF buttons' background jobs run (``layouts.pdf_job``).

A job runs on a worker with no request; it acts as the principal captured when the job was
submitted, and everything is checked again here, on the worker. :func:`render_pdf` is the
one flow of every document: the principal's right checked, the document read (its reader
checks the scope), then rendered by headless Chromium, with its steps reported.
:func:`report_pdf` is the one-page report (the review's and /review/print's buttons): the
right to the review (``view.review``), the area against the principal's scope (in
:func:`geo.reports.report.build`) and the period. Nothing is written anywhere: the file
goes back to the page as the job's result.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from geo.access.permissions import check
from geo.access.roles import Principal
from geo.reports import pdf, report
from geo.repository import review as rv
from geo.repository import session
from geo.repository.scope import Scope

log = logging.getLogger(__name__)

#: The steps reported to ``progress``, in order.
STEPS = ("read", "render")


def checked(principal: Principal | None, area, kind, date_from=None, date_to=None
            ) -> tuple[Scope, str, rv.Period]:
    """The principal's scope, the area's code and the period of a report request, checked:
    the right to the review, the area inside the scope (the scope's own place when ``area``
    is empty) and the period. Reads nothing.

    Raises
    ------
    GridAtlasError
        PermissionDenied or ReviewError, with a message for the page.
    """
    check(principal, "view.review")
    scope = Scope.of(principal)
    code = area or scope.base
    if not code:
        raise rv.ReviewError("请先选择区、街道或社区 / choose a district, street or community first")
    return scope, scope.require(code), rv.period_of(kind, date_from, date_to)


def report_pdf(principal: Principal | None, area: str | None, kind, date_from=None, date_to=None, *,
               lang: str = "zh", progress: Callable[[str], None] | None = None) -> tuple[bytes, str]:
    """The report of ``area`` for the period as PDF bytes and its file name.

    Parameters
    ----------
    principal:
        Who asked (the job's signed user); refused without ``view.review``.
    area:
        A city, district, street or community code inside the principal's scope; ``None``
        or empty takes the principal's own scope.
    kind, date_from, date_to:
        The period as the page holds it (:func:`geo.repository.review.period_of`).
    lang:
        ``zh`` or ``en``: the report's language.
    progress:
        Called with each step of :data:`STEPS` as it begins.

    Raises
    ------
    GridAtlasError
        PermissionDenied (no right, area outside the scope), ReviewError (no area, a bad
        period, not a reportable level) or RenderError (Chromium failed).
    """
    scope, code, period = checked(principal, area, kind, date_from, date_to)
    lang = "en" if lang == "en" else "zh"

    def read() -> tuple[str, str]:
        with session.replica_session():
            data = report.build(scope, code, period, lang=lang)
        return report.render_html(data), f"report-{data['code']}-{data['period'].start.isoformat()}.pdf"

    return render_pdf(principal, "view.review", read, progress=progress)


def render_pdf(principal: Principal | None, action: str, read: Callable[[], tuple[str, str]], *,
               progress: Callable[[str], None] | None = None) -> tuple[bytes, str]:
    """A document as PDF bytes and its file name, for ``principal``.

    Parameters
    ----------
    principal:
        Who asked (the job's signed user); refused without ``action``.
    action:
        The right the document needs (``geo.access.permissions``), checked before anything
        is read.
    read:
        Reads the document for that principal, checking its scope (a ``geo`` read that takes
        the principal or its scope first), and returns its complete HTML and the file's name.
    progress:
        Called with each step of :data:`STEPS` as it begins.

    Raises
    ------
    GridAtlasError
        PermissionDenied (no right; the reader's refusals), the reader's own errors, or
        RenderError (Chromium failed).
    """
    check(principal, action)
    if progress:
        progress("read")
    doc, name = read()
    if progress:
        progress("render")
    content = pdf.render(doc, "pdf")
    log.info("%s (%d bytes) made for %s", name, len(content), principal.username)
    return content, name
