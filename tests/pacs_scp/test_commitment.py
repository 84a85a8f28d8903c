"""Storage Commitment Push Model against the archive, with a pynetdicom SCU."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydicom.dataset import Dataset
from pynetdicom import AE, evt, sop_class

from imaging_common.dimse import NODELAY_HANDLERS
from imaging_common.sop_classes import STORAGE_COMMITMENT_PUSH
from imaging_common.status import CommitmentFailure, NStatus, StoreStatus
from imaging_common.uids import new_uid
from pacs_scp.commitment import COMMITMENT_INSTANCE_UID
from pacs_scp.server import start_server
from tests.conftest import RunningPacs, pacs_settings, write_network
from tests.factory import make_instance


class Reports:
    """Collects N-EVENT-REPORTs and says on which association each came."""

    def __init__(self) -> None:
        self.received: list[tuple[int, Dataset, str]] = []
        self.arrived = threading.Event()

    def handle(self, event: evt.Event) -> tuple[int, None]:
        self.received.append((int(event.request.EventTypeID), event.event_information,
                              str(event.assoc.requestor.ae_title)))
        self.arrived.set()
        return NStatus.SUCCESS, None


def _action(transaction_uid: str, references: list[tuple[str, str]]) -> Dataset:
    info = Dataset()
    info.TransactionUID = transaction_uid
    info.ReferencedSOPSequence = []
    for sop_class_uid, sop_instance_uid in references:
        item = Dataset()
        item.ReferencedSOPClassUID = sop_class_uid
        item.ReferencedSOPInstanceUID = sop_instance_uid
        info.ReferencedSOPSequence.append(item)
    return info


def _associate(port: int, reports: Reports) -> object:
    ae = AE(ae_title="COMMITSCU")
    ae.add_requested_context(sop_class.SecondaryCaptureImageStorage)
    ae.add_requested_context(STORAGE_COMMITMENT_PUSH)
    assoc = ae.associate("127.0.0.1", port, ae_title="FOVEA_PACS",
                         evt_handlers=[*NODELAY_HANDLERS, (evt.EVT_N_EVENT_REPORT, reports.handle)])
    assert assoc.is_established
    return assoc


def test_report_on_the_same_association(pacs: RunningPacs) -> None:
    reports = Reports()
    assoc = _associate(pacs.port, reports)
    stored = [make_instance(seed=i) for i in range(2)]
    for ds in stored:
        assert assoc.send_c_store(ds).Status == StoreStatus.SUCCESS
    missing = (sop_class.SecondaryCaptureImageStorage, new_uid())
    wrong_class = (sop_class.CTImageStorage, stored[1].SOPInstanceUID)
    references = [(ds.SOPClassUID, ds.SOPInstanceUID) for ds in stored[:1]] + [missing, wrong_class]
    transaction = new_uid()
    status, _ = assoc.send_n_action(_action(transaction, references), 1,
                                    STORAGE_COMMITMENT_PUSH, COMMITMENT_INSTANCE_UID)
    assert status.Status == NStatus.SUCCESS
    assert reports.arrived.wait(10)
    assoc.release()
    ((event_type, info, _),) = reports.received
    assert event_type == 2  # some failed
    assert info.TransactionUID == transaction
    assert [i.ReferencedSOPInstanceUID for i in info.ReferencedSOPSequence] == \
        [stored[0].SOPInstanceUID]
    failures = {i.ReferencedSOPInstanceUID: i.FailureReason for i in info.FailedSOPSequence}
    assert failures == {missing[1]: CommitmentFailure.NO_SUCH_OBJECT_INSTANCE,
                        wrong_class[1]: CommitmentFailure.CLASS_INSTANCE_CONFLICT}


def test_corrupted_file_is_not_committed(pacs: RunningPacs) -> None:
    reports = Reports()
    assoc = _associate(pacs.port, reports)
    ds = make_instance()
    assert assoc.send_c_store(ds).Status == StoreStatus.SUCCESS
    assert pacs.context is not None
    (path,) = pacs.context.archive.files()
    stored = pacs.context.archive.absolute(path)
    stored.write_bytes(stored.read_bytes()[:-1] + b"\x00")
    assoc.send_n_action(_action(new_uid(), [(ds.SOPClassUID, ds.SOPInstanceUID)]), 1,
                        STORAGE_COMMITMENT_PUSH, COMMITMENT_INSTANCE_UID)
    assert reports.arrived.wait(10)
    assoc.release()
    ((_, info, _),) = reports.received
    assert info.FailedSOPSequence[0].FailureReason == CommitmentFailure.PROCESSING_FAILURE


def test_bad_request_is_refused(pacs: RunningPacs) -> None:
    assoc = _associate(pacs.port, Reports())
    info = Dataset()
    info.TransactionUID = new_uid()  # no references
    status, _ = assoc.send_n_action(info, 1, STORAGE_COMMITMENT_PUSH, COMMITMENT_INSTANCE_UID)
    assoc.release()
    assert status.Status == NStatus.INVALID_ARGUMENT_VALUE


@pytest.fixture
def commit_listener() -> Iterator[tuple[int, Reports]]:
    """The requester's own SCP, where a report on a new association arrives."""
    reports = Reports()
    ae = AE(ae_title="COMMITSCU")
    ae.add_supported_context(STORAGE_COMMITMENT_PUSH, scu_role=True, scp_role=True)
    server = ae.start_server(("127.0.0.1", 0), block=False,
                             evt_handlers=[(evt.EVT_N_EVENT_REPORT, reports.handle)])
    yield server.server_address[1], reports
    server.shutdown()


def test_report_on_a_new_association(tmp_path: Path, dest_port: int,
                                     commit_listener: tuple[int, Reports]) -> None:
    port, reports = commit_listener
    network = write_network(tmp_path / "network.toml", dest_port, commit_port=port)
    server = start_server(pacs_settings(network, tmp_path / "pacs"))
    try:
        requester = _associate(server.server_address[1], Reports())
        ds = make_instance()
        assert requester.send_c_store(ds).Status == StoreStatus.SUCCESS
        status, _ = requester.send_n_action(
            _action(new_uid(), [(ds.SOPClassUID, ds.SOPInstanceUID)]), 1,
            STORAGE_COMMITMENT_PUSH, COMMITMENT_INSTANCE_UID)
        requester.release()  # gone before the report: it must come on a new association
        assert status.Status == NStatus.SUCCESS
        assert reports.arrived.wait(10)
    finally:
        server.shutdown()
    ((event_type, info, sender),) = reports.received
    assert (event_type, sender) == (1, "FOVEA_PACS")
    assert info.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == ds.SOPInstanceUID
