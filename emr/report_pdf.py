"""The printable screening report: one A4 page as PDF, and its Encapsulated PDF for the PACS.

The page shows what the report page shows, from the same
:func:`emr.reports.build_report`: the patient and the order, the worse-eye
result and the recommendation (:func:`emr.decision.recommend`, never decided
again here), each eye's grade, referral, macular oedema ("not assessed" where
the model does not assess it) and image quality, up to
:data:`PHOTOGRAPHS_PER_EYE` photographs of each eye (the deciding one first),
who signed it or :data:`NOT_SIGNED`, the model, and the research-use banner
of the report page (:data:`RESEARCH_BANNER`) at the top and the foot.

Names in any script are drawn with DejaVu Sans (Debian ``fonts-dejavu-core``)
and, for the characters it lacks (Chinese, Japanese, Korean), Droid Sans
Fallback (``fonts-droid-fallback``); both are embedded, subset, in the PDF.
Every line that could run long (a name, a comment, a note) is shrunk or cut
to fit its place, so the report never runs onto a second page.

Errors::

    EmrError (emr.exceptions)
     +-- ReportFontMissing   a font the page needs is not installed  -> 503
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from functools import cache
from pathlib import Path
from typing import cast

from fpdf import FPDF
from fpdf.enums import MethodReturnValue, XPos, YPos
from PIL import Image, UnidentifiedImageError
from pydicom.dataset import Dataset
from pydicom.uid import Comprehensive3DSRStorage, OphthalmicPhotography8BitImageStorage
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from emr.archive_outbox import enqueue
from emr.config import EmrConfig
from emr.decision import eye_words
from emr.exceptions import EmrError, NotFound
from emr.forms import EYE_NAMES
from emr.models import ArchiveItem, ArchiveKind, EyeResult, Order, Review, utcnow
from emr.orders import PROCEDURE_DESCRIPTION
from emr.pacs import fetch_photographs, photograph_image
from emr.reports import (Photograph, Report, build_report, eye_photographs, maculopathy_words,
                         margin_words)
from emr.states import OrderState
from imaging_common.builders import (
    EncapsulatedPdf,
    Equipment,
    Patient,
    ReferencedInstance,
    Request,
    build_encapsulated_pdf,
)
from imaging_common.exceptions import PeerError
from imaging_common.logs import get_logger
from imaging_common.uids import derived_uid

__all__ = ["DOCUMENT_TITLE", "NOT_SIGNED", "PHOTOGRAPHS_PER_EYE", "RESEARCH_BANNER", "Picture",
           "ReportFontMissing", "fetch_pictures", "owe_signed_report", "printed_photographs",
           "render_report_pdf", "report_document", "report_file_name"]

log = get_logger(__name__)

#: The report page's banner (``emr/templates/_macros.html``), word for word.
RESEARCH_BANNER = ("Research use only, not for clinical use.",
                   "The AI results on this page come from a research model and must not "
                   "guide care.")
#: Said where nobody has signed the result yet.
NOT_SIGNED = "Not yet signed by an ophthalmologist"
#: The page's title, and the Document Title of its Encapsulated PDF.
DOCUMENT_TITLE = "Diabetic retinopathy screening report"
#: The most photographs of one eye the page shows (the deciding one first).
PHOTOGRAPHS_PER_EYE = 2
#: Where the fonts are looked for (Debian's folders first), and which package has each.
FONT_FOLDERS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"))
FONTS = {
    "DejaVuSans.ttf": "fonts-dejavu-core",
    "DejaVuSans-Bold.ttf": "fonts-dejavu-core",
    "DroidSansFallbackFull.ttf": "fonts-droid-fallback",
}
#: The longest side, in pixels, of a photograph as the PDF holds it (300 dpi at 90 mm).
PRINT_PIXELS = 1063

_MARGIN = 12.0
_PAGE_W, _PAGE_H = 210.0, 297.0
_FOOTER_H = 20.0
_TEXT = (20, 20, 20)
_MUTED = (90, 90, 90)
_URGENT = (160, 0, 0)
_BANNER_FILL = (255, 243, 205)
_BANNER_TEXT = (102, 77, 3)
_TIME = "%Y-%m-%d %H:%M"


class ReportFontMissing(EmrError):
    """A font the printable report needs is not installed."""

    status = 503
    code = "unavailable"


@dataclass(frozen=True)
class Picture:
    """A photograph as a browser shows it: JPEG or PNG bytes and their media type."""

    data: bytes
    media_type: str


@dataclass(frozen=True)
class PrintedPhotograph:
    """One photograph the page shows, with its caption."""

    sop_instance_uid: str
    caption: str


def printed_photographs(eye: EyeResult) -> list[PrintedPhotograph]:
    """The photographs of ``eye`` the page shows: the report page's, the deciding one first."""
    photographs = eye_photographs(eye)
    several = len(photographs) > 1
    return [PrintedPhotograph(photo.sop_instance_uid, _caption(photo, number, several))
            for number, photo in enumerate(photographs[:PHOTOGRAPHS_PER_EYE], start=1)]


def _caption(photo: Photograph, number: int, several: bool) -> str:
    """The AI node's decision on the photograph; results before it graded each name none."""
    image = photo.image
    if image is None:
        words = f"Photograph {number}"
    else:
        words = image.finding.label if image.grade is not None else "Ungradable: re-image"
        if image.simulated:
            words = f"Simulated image, not a photograph of this patient. {words}"
    return words + (" (decides the eye)" if photo.decisive and several else "")


def fetch_pictures(config: EmrConfig, report: Report) -> dict[str, Picture | None]:
    """Every photograph the page shows, from the PACS (C-GET into the EMR's cache).

    A photograph that cannot be had (no PACS configured, the PACS down, no such
    instance) maps to ``None``: the page says so in its place.
    """
    wanted = [photo.sop_instance_uid for eye in report.eyes for photo in printed_photographs(eye)]
    study = report.order.study_instance_uid
    pictures: dict[str, Picture | None] = dict.fromkeys(wanted)
    if not wanted:
        return pictures
    try:
        cached = set(fetch_photographs(config, study, wanted))
    except PeerError as error:
        log.warning("photographs not fetched for the printable report",
                    study_instance_uid=study, error=str(error))
        return pictures
    for uid in wanted:
        if uid not in cached:  # the PACS has it not: asking again would not help
            log.warning("photograph not in the PACS for the printable report",
                        sop_instance_uid=uid)
            continue
        try:
            pictures[uid] = Picture(*photograph_image(config, study, uid))
        except (NotFound, PeerError) as error:
            log.warning("photograph not fetched for the printable report",
                        sop_instance_uid=uid, error=str(error))
    return pictures


@cache
def _font_path(name: str) -> Path:
    for folder in FONT_FOLDERS:
        found = next(iter(sorted(folder.rglob(name))), None) if folder.is_dir() else None
        if found is not None:
            return found
    raise ReportFontMissing(f"the printable report needs the font {name}: install the "
                            f"Debian package {FONTS[name]}")


class _Page(FPDF):
    """An A4 page with the report's fonts, that never breaks onto a second page."""

    def __init__(self) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.set_auto_page_break(False)
        self.set_margins(_MARGIN, _MARGIN, _MARGIN)
        self.add_font("dejavu", "", _font_path("DejaVuSans.ttf"))
        self.add_font("dejavu", "B", _font_path("DejaVuSans-Bold.ttf"))
        self.add_font("droid", "", _font_path("DroidSansFallbackFull.ttf"))
        self.set_fallback_fonts(["droid"], exact_match=False)
        self.set_image_filter("DCTDecode")
        self.set_text_color(*_TEXT)
        self.add_page()

    def fitted_line(self, text: str, width: float, size: float, style: str = "",
                    smallest: float = 6.5, height: float | None = None) -> None:
        """One line in ``width``: the font shrinks down to ``smallest``, then the text is cut."""
        while size > smallest and self._width(text, style, size) > width - 2 * self.c_margin:
            size -= 0.5
        self.set_font("dejavu", style, size)
        text = self._cut(text, width - 2 * self.c_margin)
        self.cell(width, height or size * 0.5, text, new_x=XPos.LEFT, new_y=YPos.NEXT)

    def paragraph(self, text: str, width: float, size: float, style: str = "",
                  max_lines: int = 2, height: float | None = None) -> None:
        """Wrapped text of at most ``max_lines`` lines, the last cut with an ellipsis."""
        self.set_font("dejavu", style, size)
        line_h = height or size * 0.45
        lines = cast(list[str], self.multi_cell(width, line_h, text, align="L", dry_run=True,
                                                output=MethodReturnValue.LINES))
        if len(lines) > max_lines:
            kept = [line.strip() for line in lines[:max_lines]]
            last = kept[-1]
            while last and self.get_string_width(last + "…") > width - 2 * self.c_margin:
                last = last[:-1]
            kept[-1] = last.rstrip() + "…"
            text = "\n".join(kept)
        self.multi_cell(width, line_h, text, align="L", new_x=XPos.LEFT, new_y=YPos.NEXT)

    def _width(self, text: str, style: str, size: float) -> float:
        self.set_font("dejavu", style, size)
        return self.get_string_width(text)

    def _cut(self, text: str, width: float) -> str:
        if self.get_string_width(text) <= width:
            return text
        while text and self.get_string_width(text + "…") > width:
            text = text[:-1]
        return text.rstrip() + "…"


def render_report_pdf(report: Report, pictures: Mapping[str, Picture | None], zone: tzinfo,
                      printed_at: datetime) -> bytes:
    """The report of one order as a one-page PDF.

    Args:
        report: the report page's data (:func:`emr.reports.build_report`).
        pictures: the photographs by SOP Instance UID (:func:`fetch_pictures`);
            one missing or ``None`` is said to be unavailable in its place.
        zone: the site's time zone, for every date and time shown.
        printed_at: when the page is printed (shown at its foot).

    Raises:
        ReportFontMissing: DejaVu Sans or Droid Sans Fallback is not installed.
    """
    page = _Page()
    order = report.order
    page.set_title(DOCUMENT_TITLE)
    page.set_creator("Fovea EMR")
    page.set_creation_date(printed_at)
    _banner(page)
    _header(page, order, zone)
    if report.result is None:
        page.paragraph("No AI result yet.", _PAGE_W - 2 * _MARGIN, 11)
    else:
        _summary(page, report, zone)
        _eyes(page, report, pictures)
        _signature(page, report, zone)
    _footer(page, report, zone, printed_at)
    return bytes(page.output())


def _banner(page: _Page, top: float = _MARGIN) -> None:
    width = _PAGE_W - 2 * _MARGIN
    page.set_fill_color(*_BANNER_FILL)
    page.set_draw_color(*_BANNER_TEXT)
    page.rect(_MARGIN, top, width, 9, style="DF")
    page.set_text_color(*_BANNER_TEXT)
    page.set_xy(_MARGIN + 1, top + 1)
    page.fitted_line(RESEARCH_BANNER[0], width - 2, 9, "B", height=3.6)
    page.set_x(_MARGIN + 1)
    page.fitted_line(RESEARCH_BANNER[1], width - 2, 8, height=3.4)
    page.set_text_color(*_TEXT)


def _header(page: _Page, order: Order, zone: tzinfo) -> None:
    width = _PAGE_W - 2 * _MARGIN
    patient = order.patient
    page.set_xy(_MARGIN, _MARGIN + 12)
    page.fitted_line(DOCUMENT_TITLE, width, 15, "B", height=8)
    page.fitted_line(patient.display_name, width, 13, "B", smallest=7, height=6.5)
    sex = {"M": "male", "F": "female", "O": "other"}.get(patient.sex.value, "not stated")
    page.fitted_line(f"MRN {patient.mrn} · born {patient.birth_date.isoformat()} · sex {sex}",
                     width, 10, height=5)
    page.fitted_line(f"Order {order.accession_number} · screening "
                     f"{order.scheduled_at.astimezone(zone).strftime(_TIME)} · station "
                     f"{order.scheduled_station_ae} · {order.state.label}", width, 10, height=5)
    page.ln(2)


def _summary(page: _Page, report: Report, zone: tzinfo) -> None:
    """The worse-eye result, the recommendation as :func:`recommend` made it, the trend."""
    width = _PAGE_W - 2 * _MARGIN
    result, finding, recommendation = report.result, report.finding, report.recommendation
    assert result is not None and finding is not None and recommendation is not None
    if result.simulated:
        page.set_text_color(*_URGENT)
        page.paragraph("Simulated images, not photographs of this patient: what the AI found "
                       "on them says nothing about this patient's eyes. Do not act on those "
                       "findings; photograph the eye.", width, 9, "B")
        page.set_text_color(*_TEXT)
    reviewed = "reviewed" if report.reviewed else "not yet reviewed"
    eye = (f"{EYE_NAMES[finding.eye]}: " if finding.eye and len(report.eyes) > 1 else "")
    page.fitted_line(f"Result (worse eye, {reviewed})", width, 11, "B", height=6)
    page.paragraph(f"{eye}{finding.label} · referable: {finding.referable_label}", width, 10)
    for side in finding.reimage:
        page.paragraph(f"{EYE_NAMES[side]}: ungradable: re-image", width, 10, "B", 1)
    for eye_result in report.eyes:
        for doubt in eye_result.laterality_doubts:
            page.paragraph(f"{EYE_NAMES[eye_result.laterality]}: laterality doubt: {doubt}. "
                           "Check which eye the photograph shows.", width, 8.5, max_lines=1)
    page.set_text_color(*(_URGENT if recommendation.urgent else _TEXT))
    page.paragraph(f"Recommendation: {recommendation.action}", width, 11, "B", height=5)
    page.set_text_color(*_TEXT)
    for note in recommendation.notes:
        page.paragraph(note, width, 9)
    if recommendation.flag:
        page.paragraph("Flagged for an ophthalmologist: maculopathy (diabetic macular oedema) "
                       "was not assessed by the AI model, so it is not known to be absent.",
                       width, 9, "B")
    trend = report.trend.value if report.trend else "not known"
    page.paragraph(f"Trend since the previous screening: {trend}", width, 9, max_lines=1)
    page.set_text_color(*_MUTED)
    page.paragraph(f"Model {result.model_name} {result.model_version}, graded "
                   f"{result.performed_at.astimezone(zone).strftime(_TIME)}. Referral is the AI "
                   "node's decision at the model's threshold; borderline: within "
                   f"{margin_words(report.borderline_margin)} of it.", width, 8)
    page.set_text_color(*_TEXT)
    page.ln(2)


def _eyes(page: _Page, report: Report, pictures: Mapping[str, Picture | None]) -> None:
    """Each eye in its column, right eye first: photographs, then what was found."""
    gap = 6.0
    count = max(1, len(report.eyes))
    column = (_PAGE_W - 2 * _MARGIN - gap * (count - 1)) / count
    top = page.get_y()
    bottom = top
    for index, eye in enumerate(report.eyes):
        left = _MARGIN + index * (column + gap)
        page.set_xy(left, top)
        _eye(page, eye, left, column, pictures)
        bottom = max(bottom, page.get_y())
    page.set_xy(_MARGIN, bottom + 2)


def _eye(page: _Page, eye: EyeResult, left: float, width: float,
         pictures: Mapping[str, Picture | None]) -> None:
    page.fitted_line(EYE_NAMES[eye.laterality], width, 12, "B", height=6)
    photographs = printed_photographs(eye)
    if photographs:
        _photographs(page, photographs, left, width, pictures)
    facts = [("AI grade", eye.finding.label if eye.gradable else
              "ungradable: re-image" + (f" (reason: {', '.join(eye.quality_reasons)})"
                                        if eye.quality_reasons else "")),
             ("Referable", _referable_words(eye))]
    if eye.gradable:
        facts.append(("Macular oedema", maculopathy_words(eye)))
    facts.append(("Image quality", eye.image_quality.value + (
        f" ({eye.quality_score:.2f})" if eye.quality_score is not None else "")))
    review = eye.review
    if review is not None:
        facts.append(("Ophthalmologist", _review_words(review)))
        if review.comment:
            facts.append(("Comment", f"“{review.comment}”"))
    for label, value in facts:
        page.set_x(left)
        page.paragraph(f"{label}: {value}", width, 9, max_lines=2, height=4.2)


def _photographs(page: _Page, photographs: list[PrintedPhotograph], left: float, width: float,
                 pictures: Mapping[str, Picture | None]) -> None:
    gap = 3.0
    count = len(photographs)
    box_w = (width - gap * (count - 1)) / count
    box_h = min(box_w * 0.9, 62.0)
    top = page.get_y()
    for number, photo in enumerate(photographs):
        x = left + number * (box_w + gap)
        _picture(page, pictures.get(photo.sop_instance_uid), x, top, box_w, box_h)
        page.set_xy(x, top + box_h + 0.8)
        page.set_text_color(*_MUTED)
        page.paragraph(photo.caption, box_w, 7.5, max_lines=2, height=3.2)
        page.set_text_color(*_TEXT)
    page.set_xy(left, top + box_h + 8)


def _picture(page: _Page, picture: Picture | None, x: float, y: float, w: float,
             h: float) -> None:
    """The photograph fitted in its box, or a box that says it could not be fetched."""
    image = _printable(picture)
    if image is not None:
        page.image(image, x=x, y=y, w=w, h=h, keep_aspect_ratio=True)
        return
    page.set_draw_color(*_MUTED)
    page.set_fill_color(240, 240, 240)
    page.rect(x, y, w, h, style="DF")
    page.set_xy(x + 2, y + h / 2 - 4)
    page.set_text_color(*_MUTED)
    page.paragraph("Photograph not available: it could not be fetched from the PACS.",
                   w - 4, 8, max_lines=3, height=3.4)
    page.set_text_color(*_TEXT)


def _printable(picture: Picture | None) -> Image.Image | None:
    """The picture as an RGB image at print size; ``None`` when absent or unreadable."""
    if picture is None:
        return None
    try:
        image: Image.Image = Image.open(io.BytesIO(picture.data))
        image.load()
    except (UnidentifiedImageError, OSError, ValueError):
        log.warning("a photograph for the printable report is not a readable image",
                    media_type=picture.media_type)
        return None
    image = image.convert("RGB")
    image.thumbnail((PRINT_PIXELS, PRINT_PIXELS))
    return image


def _referable_words(eye: EyeResult) -> str:
    words = eye.finding.referable_label
    if eye.referable_probability is not None:
        words += f" (p = {eye.referable_probability:.2f}"
        if eye.referral_threshold is not None:
            words += f", threshold {eye.referral_threshold:.2f}"
        words += ")"
    return words


def _review_words(review: Review) -> str:
    if review.decision.value == "approve":
        return f"approved the AI's finding ({review.finding.label})"
    return f"corrected to {review.finding.label}"


def _signature(page: _Page, report: Report, zone: tzinfo) -> None:
    """Who signed each eye's finding (the latest review), or that nobody has yet."""
    width = _PAGE_W - 2 * _MARGIN
    page.set_draw_color(*_MUTED)
    page.line(_MARGIN, page.get_y(), _PAGE_W - _MARGIN, page.get_y())
    page.ln(1.5)
    if not report.reviewed:
        page.fitted_line(NOT_SIGNED, width, 11, "B", height=6)
        page.paragraph("The AI's result above has not been reviewed: it must not be acted "
                       "on before an ophthalmologist has signed it.", width, 9)
        return
    for line in _signed_lines(report, zone):
        page.paragraph(line, width, 10, "B", max_lines=2, height=4.8)


def _signed_lines(report: Report, zone: tzinfo) -> Iterable[str]:
    by_signature: dict[tuple[str, str], list[str]] = {}
    for eye in report.eyes:
        review = eye.review
        assert review is not None
        key = (review.reviewer.full_name, review.created_at.astimezone(zone).strftime(_TIME))
        by_signature.setdefault(key, []).append(eye.laterality)
    for (name, when), eyes in by_signature.items():
        yield f"Signed by {name}, ophthalmologist, {when} ({eye_words(tuple(eyes))})"


def _footer(page: _Page, report: Report, zone: tzinfo, printed_at: datetime) -> None:
    width = _PAGE_W - 2 * _MARGIN
    top = _PAGE_H - _MARGIN - _FOOTER_H
    page.set_draw_color(*_MUTED)
    page.line(_MARGIN, top, _PAGE_W - _MARGIN, top)
    page.set_xy(_MARGIN, top + 1)
    page.set_text_color(*_MUTED)
    result = report.result
    if result is not None:
        page.fitted_line(f"AI SR {result.sr_sop_instance_uid}", width, 7, height=3.2)
    page.fitted_line(f"Printed {printed_at.astimezone(zone).strftime(_TIME)} from the Fovea "
                     f"EMR · study {report.order.study_instance_uid}", width, 7, height=3.2)
    page.set_text_color(*_TEXT)
    _banner(page, top=_PAGE_H - _MARGIN - 9)


def owe_signed_report(db: Session, config: EmrConfig, order: Order) -> ArchiveItem | None:
    """Owe the PACS the signed report as Encapsulated PDF, in the signing's transaction.

    Called once the signing's reviews are flushed: the page shows them, and its
    SOP Instance UID follows from them. The archive outbox sends it after the
    commit (:func:`emr.archive_outbox.send_pending`). Nothing is owed while an
    eye is unsigned.

    Raises:
        ReportFontMissing: the page cannot be drawn on this server.
    """
    report = build_report(order)
    if not report.reviewed:
        return None
    signed_at = max(eye.review.created_at or utcnow() for eye in report.eyes
                    if eye.review is not None)
    document = render_report_pdf(report, fetch_pictures(config, report), config.zone,
                                 utcnow())
    earlier = db.scalar(select(func.count(ArchiveItem.id)).where(
        ArchiveItem.order_id == order.id, ArchiveItem.kind == ArchiveKind.REPORT_PDF))
    dataset = report_document(report, document, signed_at, config.zone,
                              instance_number=(earlier or 0) + 1)
    return enqueue(db, order, dataset, ArchiveKind.REPORT_PDF)


def report_file_name(order: Order) -> str:
    """The file name a browser saves the PDF under: the accession number, no patient data."""
    return f"fovea-report-{order.accession_number}.pdf"


def report_document(report: Report, document: bytes, signed_at: datetime,
                    zone: tzinfo, instance_number: int = 1) -> Dataset:
    """The signed report as Encapsulated PDF (PS3.3 A.45.1) in the order's study.

    Its SOP Instance UID follows from the reviews it shows, so the same
    signature sent twice replaces rather than duplicates; a new signature
    (an amendment) is a new document in the same series.

    Raises:
        DicomInputError: the order's identity cannot be written as DICOM.
    """
    order = report.order
    patient = order.patient
    reviews = sorted(str(eye.review.id) for eye in report.eyes if eye.review is not None)
    sources = [ReferencedInstance(OphthalmicPhotography8BitImageStorage, uid)
               for eye in report.eyes for uid in eye.source_sop_instance_uids]
    if report.result is not None:
        sources.append(ReferencedInstance(Comprehensive3DSRStorage,
                                          report.result.sr_sop_instance_uid))
    # The verified report of the signing shown (emr.signed_report), where there is one.
    sources += [ReferencedInstance(Comprehensive3DSRStorage, eye.review.sr_sop_instance_uid)
                for eye in report.eyes
                if eye.review is not None and eye.review.sr_sop_instance_uid]
    return build_encapsulated_pdf(
        EncapsulatedPdf(document, DOCUMENT_TITLE, signed_at.astimezone(zone),
                        sources=tuple(sources)),
        Patient(patient.mrn, patient.dicom_name, patient.birth_date, patient.sex.value),
        Request(order.study_instance_uid, order.accession_number,
                order.requested_procedure_id, order.scheduled_procedure_step_id,
                PROCEDURE_DESCRIPTION,
                referring_physician_name=_person_name(order.ordering_user.full_name)),
        Equipment(model_name="Fovea EMR", software_versions=_version()),
        study_started=_study_started(order, zone), instance_number=instance_number,
        sop_instance_uid=derived_uid("fovea-report-pdf", order.study_instance_uid, *reviews))


def _person_name(full_name: str) -> str:
    """The ordering user as the worklist names the Referring Physician: family name last."""
    words = full_name.replace("^", " ").replace("\\", " ").replace("=", " ").split()
    return "^".join([words[-1], " ".join(words[:-1])]).rstrip("^")[:64] if words else ""


def _study_started(order: Order, zone: tzinfo) -> datetime:
    """When the photographs were taken: the start of the procedure step (MPPS IN PROGRESS)."""
    started = next((t.at for t in order.transitions if t.to_state == OrderState.IN_PROGRESS),
                   order.scheduled_at)
    return started.astimezone(zone)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("fovea")
    except PackageNotFoundError:
        return "unknown"
