"""Queries on the index: from a C-FIND identifier to streamed response identifiers.

Keys the index keeps in columns are matched in SQL; any other non-universal key
is matched in Python against the attribute JSON of its level, so every
attribute can be a matching key. Responses are built row by row as the
database cursor advances (``yield_per``), never collected first.

Queries are relational within the model: a key of any level at or above the
query level is matched (PS3.4 C.4.1.2.2 hierarchical search only requires the
unique keys above, which are matched like any other key).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from imaging_common.dicom_json import element_value
from imaging_common.exceptions import DicomInputError
from imaging_common.levels import UNIQUE_KEYS, Level, level_of_tag
from pacs_scp.matching import Matcher, parse_matcher
from pacs_scp.models import Instance, Patient, Series, Study

__all__ = ["Query", "parse_query", "run_query", "matching_instances"]

_MODELS: dict[Level, type[Any]] = {
    Level.PATIENT: Patient,
    Level.STUDY: Study,
    Level.SERIES: Series,
    Level.IMAGE: Instance,
}

#: Keys matched in SQL: keyword -> (level, column). PN and TM keys use the
#: normalised copies the index keeps for them.
INDEXED: dict[str, tuple[Level, InstrumentedAttribute[str]]] = {
    "PatientID": (Level.PATIENT, Patient.patient_id),
    "IssuerOfPatientID": (Level.PATIENT, Patient.issuer_of_patient_id),
    "PatientName": (Level.PATIENT, Patient.patient_name_key),
    "PatientBirthDate": (Level.PATIENT, Patient.patient_birth_date),
    "PatientSex": (Level.PATIENT, Patient.patient_sex),
    "StudyInstanceUID": (Level.STUDY, Study.study_instance_uid),
    "StudyDate": (Level.STUDY, Study.study_date),
    "StudyTime": (Level.STUDY, Study.study_time_key),
    "AccessionNumber": (Level.STUDY, Study.accession_number),
    "StudyID": (Level.STUDY, Study.study_id),
    "StudyDescription": (Level.STUDY, Study.study_description),
    "ReferringPhysicianName": (Level.STUDY, Study.referring_physician_name_key),
    "SeriesInstanceUID": (Level.SERIES, Series.series_instance_uid),
    "Modality": (Level.SERIES, Series.modality),
    "SeriesNumber": (Level.SERIES, Series.series_number),
    "SeriesDescription": (Level.SERIES, Series.series_description),
    "SOPInstanceUID": (Level.IMAGE, Instance.sop_instance_uid),
    "SOPClassUID": (Level.IMAGE, Instance.sop_class_uid),
    "InstanceNumber": (Level.IMAGE, Instance.instance_number),
}

#: Return keys computed from the index, with the level they are valid at.
COMPUTED: dict[str, Level] = {
    "NumberOfPatientRelatedStudies": Level.PATIENT,
    "NumberOfPatientRelatedSeries": Level.PATIENT,
    "NumberOfPatientRelatedInstances": Level.PATIENT,
    "NumberOfStudyRelatedSeries": Level.STUDY,
    "NumberOfStudyRelatedInstances": Level.STUDY,
    "ModalitiesInStudy": Level.STUDY,
    "SOPClassesInStudy": Level.STUDY,
    "NumberOfSeriesRelatedInstances": Level.SERIES,
}

_IGNORED = {"QueryRetrieveLevel", "SpecificCharacterSet", "RetrieveAETitle",
            "InstanceAvailability", "TimezoneOffsetFromUTC"}


@dataclass(frozen=True)
class Query:
    """A parsed identifier.

    Attributes:
        level: the Query/Retrieve Level.
        sql: matchers on indexed columns.
        python: matchers on attribute JSON: (level, tag as 8 hex digits, matcher).
        modalities: the values of ModalitiesInStudy, if it is a matching key.
        return_tags: the tags asked for, in the request's order.
    """

    level: Level
    sql: tuple[tuple[InstrumentedAttribute[str], Matcher], ...]
    python: tuple[tuple[Level, str, Matcher], ...]
    modalities: tuple[str, ...]
    identifier: Dataset


def parse_query(identifier: Dataset, patient_root: bool) -> Query:
    """Parse a C-FIND/C-MOVE/C-GET identifier for the given model.

    Raises:
        DicomInputError: the level is missing or not valid for the model.
    """
    try:
        level = Level(str(identifier.get("QueryRetrieveLevel", "")).strip().upper())
    except ValueError:
        raise DicomInputError("QueryRetrieveLevel is missing or not a level") from None
    if level is Level.PATIENT and not patient_root:
        raise DicomInputError("PATIENT level is not part of the Study Root model")
    sql: list[tuple[InstrumentedAttribute[str], Matcher]] = []
    python: list[tuple[Level, str, Matcher]] = []
    modalities: tuple[str, ...] = ()
    for element in identifier:
        keyword = element.keyword
        if keyword in _IGNORED or element.VR == "SQ" or element.tag.is_private:
            continue
        if keyword == "ModalitiesInStudy":
            modalities = tuple(v for v in _values(element.value) if v and v != "*")
            continue
        if keyword in COMPUTED:
            continue
        key_level = INDEXED[keyword][0] if keyword in INDEXED else level_of_tag(element.tag)
        if key_level.depth > level.depth:
            continue  # a key below the query level says nothing here
        matcher = parse_matcher(element.VR, _as_text(element.value))
        if matcher is None:
            continue
        if keyword in INDEXED:
            sql.append((INDEXED[keyword][1], matcher))
        else:
            python.append((key_level, f"{element.tag:08X}", matcher))
    return Query(level, tuple(sql), tuple(python), modalities, identifier)


def _values(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, MultiValue)):
        return [str(v).strip() for v in value]
    return [v.strip() for v in str(value).split("\\")]


def _as_text(value: Any) -> str:
    if isinstance(value, (list, MultiValue)):
        return "\\".join(str(v) for v in value)
    return "" if value is None else str(value)


def _statement(query: Query, level: Level) -> Select[Any]:
    """SELECT the rows of ``level`` and their parents matching ``query``."""
    entities = [_MODELS[lv] for lv in reversed(Level) if lv.depth <= level.depth]
    statement = select(*entities).select_from(_MODELS[level])
    if level is Level.IMAGE:
        statement = statement.join(Series, Instance.series_pk == Series.pk)
    if level.depth >= Level.SERIES.depth:
        statement = statement.join(Study, Series.study_pk == Study.pk)
    if level.depth >= Level.STUDY.depth:
        statement = statement.join(Patient, Study.patient_pk == Patient.pk)
    for column, matcher in query.sql:
        statement = statement.where(matcher.clause(column))
    if query.modalities and level.depth >= Level.STUDY.depth:
        has_modality = (
            select(Series.pk)
            .where(Series.study_pk == Study.pk, Series.modality.in_(query.modalities))
            .exists()
        )
        statement = statement.where(has_modality)
    return statement.order_by(_MODELS[level].pk)


def _python_match(query: Query, rows: dict[Level, Any]) -> bool:
    for level, tag, matcher in query.python:
        element = rows[level].attributes.get(tag) if level in rows else None
        if not matcher.test_any(_json_values(element)):
            return False
    return True


def _json_values(element: dict[str, Any] | None) -> list[str]:
    """The values matched in Python; a person name with all its component groups,
    as the indexed name columns hold it, so that an ideographic or phonetic
    name (PS3.5 6.2.1.2) matches too."""
    if not element:
        return [""]
    values = element.get("Value") or [""]
    return [
        "=".join(v[k] for k in _PN_GROUPS if k in v) if isinstance(v, dict) else str(v)
        for v in values
    ]


_PN_GROUPS = ("Alphabetic", "Ideographic", "Phonetic")


def matching_rows(
    session: Session, query: Query, level: Level | None = None
) -> Iterator[dict[Level, Any]]:
    """Yield, for each match, the matched row and its parents keyed by level."""
    level = level or query.level
    statement = _statement(query, level).execution_options(yield_per=200)
    levels = [lv for lv in reversed(Level) if lv.depth <= level.depth]
    for result in session.execute(statement):
        rows = dict(zip(levels, result, strict=True))
        if _python_match(query, rows):
            yield rows


def matching_instances(session: Session, query: Query) -> Iterator[Instance]:
    """Yield every instance at or below the matches of a retrieve identifier.

    Raises:
        DicomInputError: the unique key of the level is missing (PS3.4 C.4.2.2.1).
    """
    unique = query.identifier.get(UNIQUE_KEYS[query.level])
    if unique is None or not str(unique).strip():
        raise DicomInputError(f"a retrieve at {query.level.value} level needs "
                              f"{UNIQUE_KEYS[query.level]}")
    for rows in matching_rows(session, query, Level.IMAGE):
        yield rows[Level.IMAGE]


def run_query(
    session: Session,
    query: Query,
    retrieve_ae_title: str,
    is_cancelled: Callable[[], bool] = lambda: False,
) -> Iterator[Dataset]:
    """Yield one response identifier per match, stopping if cancelled."""
    for rows in matching_rows(session, query):
        if is_cancelled():
            return
        yield response_identifier(session, query, rows, retrieve_ae_title)


def response_identifier(
    session: Session, query: Query, rows: dict[Level, Any], retrieve_ae_title: str
) -> Dataset:
    """Build the response to ``query`` for one match (PS3.4 C.4.1.2.3)."""
    stored: dict[str, Any] = {}
    for level in Level:
        if level in rows:
            stored.update(rows[level].attributes or {})
    found = {}
    for element in query.identifier:
        tag = f"{element.tag:08X}"
        if tag in stored:
            found[tag] = stored[tag]
    response = _dataset_of(found)
    for element in query.identifier:
        keyword = element.keyword
        if keyword in COMPUTED and COMPUTED[keyword] in rows and keyword not in response:
            setattr(response, keyword, _computed(session, keyword, rows))
        elif element.tag not in response and not element.tag.is_private:
            response.add_new(element.tag, element.VR, None)
    _add_unique_keys(response, rows, query.level)
    response.QueryRetrieveLevel = query.level.value
    response.RetrieveAETitle = retrieve_ae_title
    if _needs_utf8(response):
        response.SpecificCharacterSet = "ISO_IR 192"
    return response


def _dataset_of(elements: dict[str, dict[str, Any]]) -> Dataset:
    """A dataset of stored DICOM JSON elements; sequences go through pydicom."""
    dataset = Dataset()
    nested = {}
    for tag, element in elements.items():
        value = element_value(element)
        if value is ...:
            nested[tag] = element
        else:
            dataset.add_new(int(tag, 16), element["vr"], value)
    if nested:
        dataset.update(Dataset.from_json(nested, lambda tag, vr, uri: None))
    return dataset


def _add_unique_keys(response: Dataset, rows: dict[Level, Any], level: Level) -> None:
    values = {
        Level.PATIENT: lambda: rows[Level.PATIENT].patient_id,
        Level.STUDY: lambda: rows[Level.STUDY].study_instance_uid,
        Level.SERIES: lambda: rows[Level.SERIES].series_instance_uid,
        Level.IMAGE: lambda: rows[Level.IMAGE].sop_instance_uid,
    }
    keyword = UNIQUE_KEYS[level]
    if not response.get(keyword):
        setattr(response, keyword, values[level]())


def _count(entity: Any) -> Any:
    return select(func.count(entity.pk))


_PK: Any = bindparam("pk")

#: How each computed return key is counted or listed: a statement built once,
#: run with the primary key of the level it belongs to.
_COMPUTED_QUERIES: dict[str, tuple[Level, Select[Any]]] = {
    "NumberOfPatientRelatedStudies": (
        Level.PATIENT, _count(Study).where(Study.patient_pk == _PK)),
    "NumberOfPatientRelatedSeries": (
        Level.PATIENT, _count(Series).join(Study).where(Study.patient_pk == _PK)),
    "NumberOfPatientRelatedInstances": (
        Level.PATIENT,
        _count(Instance).join(Series).join(Study).where(Study.patient_pk == _PK)),
    "NumberOfStudyRelatedSeries": (
        Level.STUDY, _count(Series).where(Series.study_pk == _PK)),
    "NumberOfStudyRelatedInstances": (
        Level.STUDY, _count(Instance).join(Series).where(Series.study_pk == _PK)),
    "NumberOfSeriesRelatedInstances": (
        Level.SERIES, _count(Instance).where(Instance.series_pk == _PK)),
    "ModalitiesInStudy": (
        Level.STUDY,
        select(Series.modality).where(Series.study_pk == _PK, Series.modality != "")
        .distinct()),
    "SOPClassesInStudy": (
        Level.STUDY,
        select(Instance.sop_class_uid).join(Series).where(Series.study_pk == _PK).distinct()),
}


def _computed(session: Session, keyword: str, rows: dict[Level, Any]) -> Any:
    level, statement = _COMPUTED_QUERIES[keyword]
    result = session.connection().execute(statement, {"pk": rows[level].pk})
    if keyword.startswith("NumberOf"):
        return result.scalar()
    return sorted(result.scalars())


def _needs_utf8(dataset: Dataset) -> bool:
    for element in dataset.iterall():
        if isinstance(element.value, str) and not element.value.isascii():
            return True
        if element.VR == "PN" and element.value and not str(element.value).isascii():
            return True
    return False
