"""Whatever a peer sends, the archive answers with a defined status and keeps the
association: generated malformed datasets as C-STORE datasets, C-FIND, C-MOVE
and C-GET identifiers and storage commitment requests, sent to the archive in
this process (tests/hostile.py builds them)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE, Association, build_role, evt
from pynetdicom.sop_class import (
    ComprehensiveSRStorage,
    OphthalmicPhotography8BitImageStorage,
    PatientRootQueryRetrieveInformationModelFind,
    PatientRootQueryRetrieveInformationModelGet,
    PatientRootQueryRetrieveInformationModelMove,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
    Verification,
)

from imaging_common.sop_classes import STORAGE_COMMITMENT_PUSH
from imaging_common.uids import new_uid
from pacs_scp.commitment import COMMITMENT_INSTANCE_UID
from pacs_scp.server import start_server
from tests.conftest import DEST_AE, RunningPacs, free_port, pacs_settings, write_network
from tests.hostile import (
    HOSTILE,
    UNHANDLED,
    Element,
    Node,
    Sequence,
    cs,
    element,
    nodes,
    text_values,
    to_dataset,
    ui,
    value_for,
    watched,
    with_identity,
)

# Inputs that once reached the peer as 0xCx1x, tried on every run, each in an
# instance that has what the archive needs to index it.
INDEXABLE = [ui(0x0020000D, "2.25.91724081961257460912385012635114387571"),
             ui(0x0020000E, "2.25.51934418049128725513866151870524617702"),
             Element(0x00100020, "LO", b"HOSTILE1")]
# PS3.5 Annex H: a Japanese name after code extensions (the default repertoire first).
JAPANESE = [*INDEXABLE, Element(0x00080005, "CS", b"\\ISO 2022 IR 87 "),
            Element(0x00100010, "PN", "Yamada^Tarou=山田^太郎".encode("iso2022_jp"))]
# An SR content item whose FD value is 7 bytes long.
ODD_FLOAT = [*INDEXABLE, Sequence(0x0040A730, [[Element(0x0040A161, "FD", b"\x00" * 7)]])]
BINARY_DATE = [*INDEXABLE, Element(0x00080020, "UL", b"\x00")]
BINARY_UID = [Element(0x00080016, "FD", b"\x00")]
PATIENT = cs(0x00080052, "PATIENT")

STORAGE = (OphthalmicPhotography8BitImageStorage, ComprehensiveSRStorage)
FIND = (PatientRootQueryRetrieveInformationModelFind, StudyRootQueryRetrieveInformationModelFind)
MOVE = (PatientRootQueryRetrieveInformationModelMove, StudyRootQueryRetrieveInformationModelMove)
GET = (PatientRootQueryRetrieveInformationModelGet, StudyRootQueryRetrieveInformationModelGet)
SYNTAXES = (ExplicitVRLittleEndian, ImplicitVRLittleEndian)

# Defined final statuses of each service (PS3.4 B.2.3, C.4.1.1.4, C.4.2.1.5, C.4.3.1.4).
STORE_STATUSES = {0x0000, 0xA700, 0xA900, 0xC000, 0xB000, 0xB006, 0xB007}
QUERY_STATUSES = {0x0000, 0xFF00, 0xFF01, 0xA700, 0xA900, 0xC000}
RETRIEVE_STATUSES = {0x0000, 0xFF00, 0xA701, 0xA702, 0xA801, 0xA900, 0xB000, 0xC000}


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPacs]:
    """One archive (SQLite index) for all examples of this module."""
    folder = tmp_path_factory.mktemp("hostile")
    network = write_network(folder / "network.toml", free_port())
    settings = pacs_settings(network, folder / "pacs",
                             "--database-url", f"sqlite:///{folder / 'index.db'}")
    server = start_server(settings)
    yield RunningPacs(settings, server.server_address[1])
    server.shutdown()


@contextmanager
def association(pacs: RunningPacs, abstract: str, implicit: bool,
                receive: bool = False) -> Iterator[Association]:
    """An association for ``abstract`` in the datasets' transfer syntax, and
    Verification; with ``receive``, also the storage classes with the SCP role,
    to take C-GET sub-operations. After the block, a C-ECHO must still succeed."""
    ae = AE("TESTSCU")
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 20
    ae.add_requested_context(abstract, SYNTAXES[implicit])
    ae.add_requested_context(Verification)
    roles = []
    for sop_class in STORAGE if receive else ():
        ae.add_requested_context(sop_class, list(SYNTAXES))
        roles.append(build_role(sop_class, scp_role=True))
    assoc = ae.associate("127.0.0.1", pacs.port, ae_title=pacs.ae_title, ext_neg=roles,
                         evt_handlers=[(evt.EVT_N_EVENT_REPORT, lambda event: (0x0000, None)),
                                       (evt.EVT_C_STORE, lambda event: 0x0000)])
    assert assoc.is_established
    try:
        yield assoc
        assert assoc.is_established, "the archive dropped the association"
        assert assoc.send_c_echo().Status == 0x0000
    finally:
        assoc.release()


def _level() -> st.SearchStrategy[Node]:
    """A Query/Retrieve Level, well formed or not (as CS: pynetdicom reads it to send)."""
    return st.one_of(
        st.sampled_from(("PATIENT", "STUDY", "SERIES", "IMAGE")).map(
            lambda level: cs(0x00080052, level)),
        value_for("CS").map(lambda value: Element(0x00080052, "CS", value)))


@HOSTILE
@given(elements=nodes(), sop_class=st.sampled_from(STORAGE), implicit=st.booleans())
@example(elements=JAPANESE, sop_class=STORAGE[0], implicit=False)
@example(elements=ODD_FLOAT, sop_class=ComprehensiveSRStorage, implicit=False)
@example(elements=BINARY_DATE, sop_class=STORAGE[0], implicit=False)
def test_store_answers_a_defined_status(archive: RunningPacs, elements: list[Node],
                                        sop_class: str, implicit: bool) -> None:
    dataset = to_dataset(with_identity(elements, ui(0x00080016, sop_class),
                                       ui(0x00080018, new_uid())), implicit)
    with watched(list(text_values(elements))), association(archive, sop_class, implicit) as assoc:
        status = assoc.send_c_store(dataset).Status
        assert status not in UNHANDLED and status in STORE_STATUSES, hex(status)


def _statuses(responses: Iterator[tuple[Dataset, Dataset | None]]) -> list[int]:
    statuses = [int(status.Status) for status, _ in responses if "Status" in status]
    assert statuses, "no response"
    return statuses


@HOSTILE
@given(elements=nodes(), level=_level(), model=st.sampled_from(FIND), implicit=st.booleans())
@example(elements=BINARY_UID, level=PATIENT, model=FIND[0], implicit=False)
@example(elements=[], level=PATIENT, model=FIND[0], implicit=False)
def test_find_answers_a_defined_status(archive: RunningPacs, elements: list[Node],
                                       level: Element, model: str, implicit: bool) -> None:
    identifier = to_dataset(with_identity(elements, level), implicit)
    with watched(list(text_values(elements))), association(archive, model, implicit) as assoc:
        statuses = _statuses(assoc.send_c_find(identifier, model))
        assert not UNHANDLED & set(statuses) and set(statuses) <= QUERY_STATUSES, statuses


@HOSTILE
@given(elements=nodes(), level=_level(), model=st.sampled_from(MOVE), implicit=st.booleans())
@example(elements=BINARY_UID, level=PATIENT, model=MOVE[0], implicit=False)
@example(elements=[], level=PATIENT, model=MOVE[0], implicit=False)
def test_move_answers_a_defined_status(archive: RunningPacs, elements: list[Node],
                                       level: Element, model: str, implicit: bool) -> None:
    identifier = to_dataset(with_identity(elements, level), implicit)
    with watched(list(text_values(elements))), association(archive, model, implicit) as assoc:
        statuses = _statuses(assoc.send_c_move(identifier, DEST_AE, model))
        assert not UNHANDLED & set(statuses) and set(statuses) <= RETRIEVE_STATUSES, statuses


@HOSTILE
@given(elements=nodes(), level=_level(), model=st.sampled_from(GET), implicit=st.booleans())
@example(elements=BINARY_UID, level=PATIENT, model=GET[0], implicit=False)
@example(elements=[], level=PATIENT, model=GET[0], implicit=False)
@example(elements=INDEXABLE[:1], level=cs(0x00080052, "STUDY"), model=GET[1], implicit=False)
def test_get_answers_a_defined_status(archive: RunningPacs, elements: list[Node],
                                      level: Element, model: str, implicit: bool) -> None:
    identifier = to_dataset(with_identity(elements, level), implicit)
    with watched(list(text_values(elements))), \
            association(archive, model, implicit, receive=True) as assoc:
        statuses = _statuses(assoc.send_c_get(identifier, model))
        assert not UNHANDLED & set(statuses) and set(statuses) <= RETRIEVE_STATUSES, statuses


def _commitment_request() -> st.SearchStrategy[list[Node]]:
    """A Transaction UID (well formed or not) and a Referenced SOP Sequence of
    references (well formed or not) with whatever else."""
    reference = st.lists(st.one_of(
        st.just(ui(0x00081150, OphthalmicPhotography8BitImageStorage)),
        st.builds(lambda: ui(0x00081155, new_uid())),
        element((0x00081150, 0x00081155)), element()), max_size=3)
    sequence = st.builds(Sequence, st.just(0x00081199), st.lists(reference, max_size=3),
                         st.booleans())
    transaction = st.one_of(st.builds(lambda: ui(0x00081195, new_uid())),
                            element((0x00081195,)))
    return st.tuples(nodes(2), transaction, sequence).map(
        lambda parts: with_identity(parts[0], parts[1], parts[2]))


@HOSTILE
@given(elements=_commitment_request(), action=st.sampled_from((1, 1, 1, 2, 0)),
       implicit=st.booleans())
def test_commitment_answers_a_defined_status(archive: RunningPacs, elements: list[Node],
                                             action: int, implicit: bool) -> None:
    information = to_dataset(elements, implicit)
    with watched(list(text_values(elements))), \
            association(archive, STORAGE_COMMITMENT_PUSH, implicit) as assoc:
        status, _ = assoc.send_n_action(information, action, STORAGE_COMMITMENT_PUSH,
                                        COMMITMENT_INSTANCE_UID)
        assert "Status" in status, "no response"
        assert status.Status in {0x0000, 0x0110, 0x0115, 0x0123, 0x0120, 0x0121, 0x0106}, \
            hex(status.Status)
