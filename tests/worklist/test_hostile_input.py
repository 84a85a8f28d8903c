"""Whatever a station sends, the worklist answers with a defined status and keeps
the association: generated malformed datasets as Modality Worklist C-FIND
identifiers and as MPPS N-CREATE and N-SET attribute lists, sent to the worklist
in this process in front of a real EMR (tests/hostile.py builds them)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE, Association

from imaging_common.sop_classes import (
    MODALITY_PERFORMED_PROCEDURE_STEP,
    MODALITY_WORKLIST_FIND,
    VERIFICATION,
)
from imaging_common.status import NStatus
from imaging_common.uids import new_uid
from tests.hostile import (
    HOSTILE,
    UNHANDLED,
    Element,
    Node,
    Sequence,
    cs,
    nodes,
    text_values,
    to_dataset,
    ui,
    watched,
    with_identity,
)

from .conftest import (
    STATIONS,
    OrderIds,
    RunningWorklist,
    running_emr,
    running_worklist,
    worklist_config,
    write_network,
)

SYNTAXES = (ExplicitVRLittleEndian, ImplicitVRLittleEndian)
QUERY_STATUSES = {0x0000, 0xFF00, 0xFF01, 0xA700, 0xA900, 0xC000}
N_STATUSES = {int(status) for status in NStatus}


@dataclass
class Service:
    worklist: RunningWorklist
    order: OrderIds


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """The EMR with one scheduled order, and the worklist in front of it."""
    folder = tmp_path_factory.mktemp("worklist-hostile")
    with running_emr(folder) as emr:
        patient = emr.add_patient("WL-HOSTILE", "Doe", "Jane", date(1961, 4, 12), "F")
        order = emr.add_order(patient, datetime.now(UTC) + timedelta(hours=1))
        network = write_network(folder / "network.toml", emr.port)
        with running_worklist(worklist_config(network, folder / "worklist")) as worklist:
            yield Service(worklist, order)


@contextmanager
def association(service: Service, abstract: str, implicit: bool) -> Iterator[Association]:
    """An association as a station, in the datasets' transfer syntax; after the
    block, a C-ECHO must still succeed on it."""
    ae = AE(STATIONS[0])
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 20
    ae.add_requested_context(abstract, SYNTAXES[implicit])
    ae.add_requested_context(VERIFICATION)
    settings = service.worklist.config.settings
    assoc = ae.associate("127.0.0.1", service.worklist.port, ae_title=settings.ae_title)
    assert assoc.is_established
    try:
        yield assoc
        assert assoc.is_established, "the worklist dropped the association"
        assert assoc.send_c_echo().Status == 0x0000
    finally:
        assoc.release()


@HOSTILE
@given(elements=nodes(), implicit=st.booleans())
@example(elements=[Element(0x00080016, "FD", b"\x00")], implicit=False)  # once 0xC311
def test_find_answers_a_defined_status(service: Service, elements: list[Node],
                                       implicit: bool) -> None:
    identifier = to_dataset(elements, implicit)
    with watched(list(text_values(elements))), \
            association(service, MODALITY_WORKLIST_FIND, implicit) as assoc:
        statuses = [int(status.Status) for status, _ in
                    assoc.send_c_find(identifier, MODALITY_WORKLIST_FIND) if "Status" in status]
        assert statuses, "no response"
        assert not UNHANDLED & set(statuses) and set(statuses) <= QUERY_STATUSES, statuses


def _step(service: Service) -> st.SearchStrategy[list[Node]]:
    """An MPPS attribute list: the order's study (or not), a status (well formed
    or not), and whatever else."""
    scheduled = st.builds(
        lambda rest, study: Sequence(0x00400270, [with_identity(rest, *study)]),
        nodes(1), st.lists(st.just(ui(0x0020000D, service.order.study_instance_uid)),
                           max_size=1))
    status = st.sampled_from(("IN PROGRESS", "COMPLETED", "DISCONTINUED", "")).map(
        lambda text: cs(0x00400252, text))
    return st.tuples(nodes(), st.lists(st.one_of(scheduled, status), max_size=2)).map(
        lambda parts: with_identity(parts[0], *parts[1]))


@HOSTILE
@given(data=st.data(), implicit=st.booleans())
def test_mpps_answers_a_defined_status(service: Service, data: st.DataObject,
                                       implicit: bool) -> None:
    creation = data.draw(_step(service))
    changes = data.draw(_step(service))
    uid = new_uid()
    values = [*text_values(creation), *text_values(changes)]
    with watched(values), \
            association(service, MODALITY_PERFORMED_PROCEDURE_STEP, implicit) as assoc:
        created, _ = assoc.send_n_create(to_dataset(creation, implicit),
                                         MODALITY_PERFORMED_PROCEDURE_STEP, uid)
        updated, _ = assoc.send_n_set(to_dataset(changes, implicit),
                                      MODALITY_PERFORMED_PROCEDURE_STEP, uid)
        for status in (created, updated):
            assert "Status" in status, "no response"
            assert status.Status in N_STATUSES, hex(status.Status)
