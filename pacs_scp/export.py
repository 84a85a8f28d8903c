"""``python -m pacs_scp.export``: a de-identified research export of archived studies.

Reads the instances of the chosen studies through the archive's own index and
files (the same data folder and database as ``python -m pacs_scp``), applies
:mod:`imaging_common.deidentify` (PS3.15 Basic Profile, Retain Longitudinal
Temporal Information with Modified Dates, UIDs replaced) and writes::

    OUT/<new StudyInstanceUID>/<new SeriesInstanceUID>/<new SOPInstanceUID>.dcm
    OUT/export-report.json

Images whose Burned In Annotation is YES or unknown are flagged in the report
and left out unless ``--include-burned-in``. The report and the log hold counts
and new UIDs only; the key file (pseudonym to patient) is written only when
``--key-file`` names one, outside OUT, readable by its owner only.

Exit status: 0 all selected instances handled, 1 some could not be read,
2 bad options or unknown studies.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import secrets
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from io import BytesIO, StringIO
from pathlib import Path
from typing import Any

from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import UID
from sqlalchemy import select
from sqlalchemy.orm import Session

from imaging_common.deidentify import (
    BurnedIn,
    Deidentifier,
    Pseudonym,
    burned_in_annotation,
)
from imaging_common.exceptions import ConfigError, DicomInputError
from imaging_common.logs import configure_logging, get_logger
from imaging_common.settings import Settings, load_settings, service_argument_parser
from imaging_common.uids import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME
from pacs_scp.archive import Archive, checksum_of
from pacs_scp.models import Instance, Patient, Series, Study
from pacs_scp.server import build_context

__all__ = ["ExportReport", "Selected", "export_studies", "main", "select_instances"]

log = get_logger(__name__)

REPORT_NAME = "export-report.json"
PSEUDONYM_FORMAT = "RESEARCH-{:04d}"
#: The same pseudonym as a person name (family^given, PS3.5 6.2.1.1).
PSEUDONYM_NAME_FORMAT = "RESEARCH^{:04d}"
SALT_BYTES = 32


class UnknownStudyError(ConfigError):
    """A requested study is not in the archive."""


@dataclass(frozen=True)
class Selected:
    """One archived instance chosen for export: what the index knows of it."""

    study_instance_uid: str
    file_path: str
    checksum: str
    patient: tuple[str, str]


@dataclass
class ExportReport:
    """What an export did: counts and new UIDs only, never patient data."""

    include_burned_in: bool
    repeatable: bool
    studies: set[str] = field(default_factory=set)
    series: set[str] = field(default_factory=set)
    patients: int = 0
    selected: int = 0
    exported: int = 0
    flagged: list[dict[str, Any]] = field(default_factory=list)
    failed: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "profile": "PS3.15 E Basic Application Confidentiality Profile",
            "options": ["Retain Longitudinal Temporal Information Modified Dates Option"],
            "uids_replaced": True,
            "repeatable_with_salt_file": self.repeatable,
            "include_burned_in": self.include_burned_in,
            "patients": self.patients,
            "studies": len(self.studies),
            "series": len(self.series),
            "instances_selected": self.selected,
            "instances_exported": self.exported,
            "instances_failed": self.failed,
            "flagged": self.flagged,
        }


def select_instances(session: Session, study_uids: Sequence[str] | None) -> list[Selected]:
    """Return the indexed instances of ``study_uids`` (every study when ``None``).

    Raises:
        UnknownStudyError: a requested study is not indexed.
    """
    query = (
        select(Study.study_instance_uid, Instance.file_path, Instance.checksum,
               Patient.patient_id, Patient.issuer_of_patient_id)
        .join(Instance.series).join(Series.study).join(Study.patient)
        .order_by(Study.pk, Series.pk, Instance.pk)
    )
    if study_uids is not None:
        query = query.where(Study.study_instance_uid.in_(list(study_uids)))
    rows = [Selected(r[0], r[1], r[2], (r[3], r[4])) for r in session.execute(query)]
    if study_uids is not None:
        missing = set(study_uids) - {row.study_instance_uid for row in rows}
        if missing:
            raise UnknownStudyError(f"{len(missing)} requested studies are not in the "
                                    f"archive: {', '.join(sorted(missing))}")
    return rows


def assign_pseudonyms(
    deidentifier: Deidentifier, patients: set[tuple[str, str]]
) -> dict[tuple[str, str], Pseudonym]:
    """Number the patients in a keyed order: RESEARCH-0001, RESEARCH-0002, ...

    The order depends on the salt and the set of patients only, so a re-run with
    the same salt and selection gives the same pseudonyms.
    """
    ordered = sorted(patients, key=deidentifier.pseudonym_order)
    return {
        key: Pseudonym(PSEUDONYM_FORMAT.format(number), PSEUDONYM_NAME_FORMAT.format(number),
                       deidentifier.date_shift_days(key))
        for number, key in enumerate(ordered, start=1)
    }


def _read_verified(archive: Archive, item: Selected) -> Dataset | None:
    """Read an archived file; ``None`` if it is missing, altered or unreadable."""
    try:
        data = archive.read(item.file_path)
        if checksum_of(data) != item.checksum:
            return None
        return dcmread(BytesIO(data))
    except (OSError, InvalidDicomError, EOFError, ValueError):
        return None


def _file_meta(ds: Dataset, transfer_syntax_uid: str) -> FileMetaDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = UID(transfer_syntax_uid)
    meta.ImplementationClassUID = IMPLEMENTATION_CLASS_UID
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
    return meta


def write_instance(ds: Dataset, out: Path) -> Path:
    """Write a de-identified instance as Part 10 under ``out``; return its path."""
    folder = out / str(ds.StudyInstanceUID) / str(ds.SeriesInstanceUID)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{ds.SOPInstanceUID}.dcm"
    partial = target.with_suffix(".part")
    ds.save_as(partial, enforce_file_format=True)
    os.replace(partial, target)
    return target


def export_studies(
    sessions: Any, archive: Archive, study_uids: Sequence[str] | None, out: Path,
    deidentifier: Deidentifier, include_burned_in: bool = False, repeatable: bool = True,
) -> tuple[ExportReport, dict[tuple[str, str], Pseudonym]]:
    """Export the studies de-identified; return the report and the pseudonyms.

    Raises:
        UnknownStudyError: a requested study is not indexed (nothing is written).
    """
    with sessions() as session:
        selected = select_instances(session, study_uids)
    pseudonyms = assign_pseudonyms(deidentifier, {item.patient for item in selected})
    report = ExportReport(include_burned_in, repeatable, patients=len(pseudonyms),
                          selected=len(selected))
    out.mkdir(parents=True, exist_ok=True)
    for item, ds in _datasets(archive, selected):
        if ds is None:
            report.failed += 1
            log.error("archived file unreadable or altered", file=item.file_path)
            continue
        _export_one(ds, pseudonyms[item.patient], deidentifier, out, report)
    (out / REPORT_NAME).write_text(json.dumps(report.as_json(), indent=2) + "\n")
    log.info("research export finished", exported=report.exported,
             flagged=len(report.flagged), failed=report.failed, out=str(out))
    return report, pseudonyms


def _datasets(archive: Archive, selected: list[Selected]
              ) -> Iterator[tuple[Selected, Dataset | None]]:
    for item in selected:
        yield item, _read_verified(archive, item)


def _export_one(ds: Dataset, pseudonym: Pseudonym, deidentifier: Deidentifier,
                out: Path, report: ExportReport) -> None:
    burned_in = burned_in_annotation(ds)
    transfer_syntax_uid = ds.file_meta.TransferSyntaxUID
    try:
        deidentifier.deidentify(ds, pseudonym)
    except DicomInputError as exc:
        report.failed += 1
        log.error("instance not exported", reason=str(exc))
        return
    if burned_in in (BurnedIn.YES, BurnedIn.UNKNOWN):
        report.flagged.append({
            "sop_instance_uid": str(ds.SOPInstanceUID),
            "sop_class_uid": str(ds.SOPClassUID),
            "burned_in_annotation": burned_in.value,
            "exported": report.include_burned_in,
        })
        if not report.include_burned_in:
            return
    ds.file_meta = _file_meta(ds, transfer_syntax_uid)
    write_instance(ds, out)
    report.exported += 1
    report.studies.add(str(ds.StudyInstanceUID))
    report.series.add(str(ds.SeriesInstanceUID))


def read_salt(path: Path | None) -> tuple[bytes, bool]:
    """Return the export's salt and whether it is kept (so a re-run can repeat it).

    A salt file that exists is read (hex); one that does not is created with a
    new random salt, readable by its owner only. Without a file the salt is
    random and forgotten.

    Raises:
        ConfigError: the salt file does not hold at least 16 bytes in hex.
    """
    if path is None:
        return secrets.token_bytes(SALT_BYTES), False
    if not path.exists():
        salt = secrets.token_bytes(SALT_BYTES)
        _write_private(path, salt.hex() + "\n")
        return salt, True
    try:
        salt = bytes.fromhex(path.read_text(encoding="ascii").strip())
    except (ValueError, UnicodeDecodeError):
        raise ConfigError(f"salt file {path} does not hold a hex string") from None
    if len(salt) < 16:
        raise ConfigError(f"salt file {path} holds fewer than 16 bytes")
    return salt, True


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to a new or replaced file readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
        handle.write(text)


def write_key_file(path: Path, pseudonyms: dict[tuple[str, str], Pseudonym]) -> None:
    """Write the re-identification key (CSV): pseudonym, patient, date shift."""
    rows = [["pseudonym", "patient_id", "issuer_of_patient_id", "date_shift_days"]]
    rows += [[p.patient_id, key[0], key[1], str(p.date_shift_days)]
             for key, p in sorted(pseudonyms.items(), key=lambda kv: kv[1].patient_id)]
    buffer = StringIO()
    csv.writer(buffer).writerows(rows)
    _write_private(path, buffer.getvalue())


def argument_parser() -> argparse.ArgumentParser:
    parser = service_argument_parser(
        "Export studies de-identified (PS3.15 Basic Profile, modified dates, new UIDs)")
    parser.prog = "python -m pacs_scp.export"
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--study", action="append", metavar="UID",
                       help="Study Instance UID to export (repeatable)")
    which.add_argument("--all", action="store_true", help="export every study")
    parser.add_argument("--out", type=Path, required=True, help="export folder")
    parser.add_argument("--salt-file", type=Path,
                        help="secret salt (hex), created if missing; same salt, same UIDs")
    parser.add_argument("--key-file", type=Path,
                        help="write the pseudonym key (CSV) here; keep it private")
    parser.add_argument("--include-burned-in", action="store_true",
                        help="export flagged images (burned-in annotation) too")
    return parser


def _check_key_file(settings: Settings) -> Path | None:
    key_file: Path | None = settings.extra["key_file"]
    out: Path = settings.extra["out"]
    if key_file is not None and key_file.resolve().is_relative_to(out.resolve()):
        raise ConfigError("the key file must not lie inside the export folder")
    return key_file


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the research export; returns the process exit status."""
    try:
        settings = load_settings("pacs", argv, parser=argument_parser())
        key_file = _check_key_file(settings)
        salt, repeatable = read_salt(settings.extra["salt_file"])
    except ConfigError as exc:
        print(f"pacs_scp.export: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_format)
    ctx = build_context(settings)
    extra = settings.extra
    try:
        report, pseudonyms = export_studies(
            ctx.sessions, ctx.archive, None if extra["all"] else extra["study"],
            extra["out"], Deidentifier(salt), extra["include_burned_in"], repeatable)
    except UnknownStudyError as exc:
        print(f"pacs_scp.export: {exc}", file=sys.stderr)
        return 2
    if key_file is not None:
        write_key_file(key_file, pseudonyms)
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
