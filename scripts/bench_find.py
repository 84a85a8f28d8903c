"""C-FIND latency with a large index, and the ingest rate it leaves.

Fills an archive's index with 100,000 instances (10,000 studies of 5,000
patients, two series of five images each) through the archive's own upsert
functions, in bulk transactions and without writing files (C-FIND reads the
index only). Then, against ``python -m pacs_scp`` on that index:

- study-level C-FIND by exact PatientID and by exact AccessionNumber, and by
  a patient-name wildcard: p50 and p95 over many queries, each timed from
  association request to final response, with the keys a viewer asks for;
- C-STORE rate of 1,000 tiny images (DCMTK storescu, TCP_NODELAY=1) into the
  full index and into an empty one, and their ratio.

    python scripts/bench_find.py [--instances 100000] [--queries 200]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
from bench_store import write_corpus
from peers import SENDER_AE, Receiver, fovea, storescu, write_network
from pydicom.dataset import Dataset
from pynetdicom import AE
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind

from imaging_common.builders import Laterality, OphthalmicImage
from imaging_common.dimse import NODELAY_HANDLERS
from imaging_common.settings import load_settings
from imaging_common.uids import new_uid
from pacs_scp.index import StoredFile, put_instance, upsert_parents
from pacs_scp.record import InstanceRecord, record_from_dataset
from pacs_scp.server import build_context
from pacs_scp.storage import parse_header

SURNAMES = [f"{a}{b}{c}" for a in "BDFGHKLMNPRSTVW" for b in "AEIOU" for c in
            ("LLER", "NSON", "RTIN", "STER", "NDEZ", "KOVA", "MURA", "RRIS")]
IMAGES_PER_SERIES = 5


def template(folder: Path) -> InstanceRecord:
    """The index record of one real photograph, to vary per instance."""
    tiny = OphthalmicImage(Laterality.RIGHT, pixels=np.full((8, 8), 128, np.uint8))
    write_corpus(folder, [tiny], 1)
    (path,) = folder.iterdir()
    return record_from_dataset(parse_header(path.read_bytes()))


def _with(attributes: dict[str, object], **values: object) -> dict[str, object]:
    tags = {"PatientName": "00100010", "PatientID": "00100020", "StudyDate": "00080020",
            "AccessionNumber": "00080050", "StudyInstanceUID": "0020000D",
            "SeriesInstanceUID": "0020000E", "SOPInstanceUID": "00080018"}
    changed = dict(attributes)
    for keyword, value in values.items():
        if tags[keyword] in changed:
            vr = changed[tags[keyword]]["vr"]  # type: ignore[index]
            changed[tags[keyword]] = {"vr": vr, "Value": [
                {"Alphabetic": value} if vr == "PN" else value]}
    return changed


def study_records(base: InstanceRecord, number: int) -> list[InstanceRecord]:
    """The ten instance records of study ``number``."""
    patient = number // 2
    name = f"{SURNAMES[patient % len(SURNAMES)]}^P{patient:05d}"
    study = {"PatientID": f"PID{patient:06d}", "PatientName": name,
             "StudyDate": f"{2024 + number % 3}{1 + number % 12:02d}{1 + number % 28:02d}",
             "AccessionNumber": f"ACC{number:08d}", "StudyInstanceUID": new_uid()}
    records = []
    for _ in range(2):
        series_uid = new_uid()
        for _ in range(IMAGES_PER_SERIES):
            values = {**study, "SeriesInstanceUID": series_uid, "SOPInstanceUID": new_uid()}
            records.append(replace(
                base,
                sop_instance_uid=values["SOPInstanceUID"],
                study_instance_uid=study["StudyInstanceUID"],
                series_instance_uid=series_uid,
                values={**base.values, **values},
                attributes={level: _with(attrs, **values)
                            for level, attrs in base.attributes.items()},
            ))
    return records


def fill_index(data_dir: Path, instances: int, work: Path) -> None:
    """Index ``instances`` instances, a thousand studies per transaction."""
    settings = load_settings("pacs", ["--config", str(write_network(work)),
                                      "--data-dir", str(data_dir)], environ={})
    ctx = build_context(settings)
    base = template(work / "template")
    studies = instances // (2 * IMAGES_PER_SERIES)
    started = time.perf_counter()
    for first in range(0, studies, 1000):
        with ctx.store.engine.begin() as connection:
            for number in range(first, min(first + 1000, studies)):
                series_pk = None
                for index, record in enumerate(study_records(base, number)):
                    if index % IMAGES_PER_SERIES == 0:
                        series_pk = upsert_parents(connection, record)
                    stored = StoredFile("1.2.840.10008.1.2.1", f"bench/{record.sop_instance_uid}",
                                        1434, "0" * 64, SENDER_AE)
                    put_instance(connection, record, series_pk or 0, stored, replacing=False)
    print(f"indexed {studies * 2 * IMAGES_PER_SERIES} instances in "
          f"{time.perf_counter() - started:.0f} s")
    ctx.store.engine.dispose()


def timed_find(receiver: Receiver, identifier: Dataset) -> tuple[float, int]:
    """Seconds from association request to the final response, and the matches.

    The release follows outside the timing: the answer is in hand by then,
    and pynetdicom's requester waits 10 ms for its own transport to stop.
    """
    ae = AE(ae_title=SENDER_AE)
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
    started = time.perf_counter()
    assoc = ae.associate("127.0.0.1", receiver.port, ae_title=receiver.ae_title,
                         evt_handlers=NODELAY_HANDLERS)
    matches = 0
    for status, found in assoc.send_c_find(identifier,
                                           StudyRootQueryRetrieveInformationModelFind):
        if status and status.Status in (0xFF00, 0xFF01) and found is not None:
            matches += 1
    seconds = time.perf_counter() - started
    assoc.release()
    return seconds, matches


def study_query(**keys: str) -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = "STUDY"
    for keyword in ("PatientName", "PatientID", "PatientBirthDate", "StudyDate", "StudyTime",
                    "AccessionNumber", "StudyDescription", "StudyInstanceUID",
                    "ModalitiesInStudy", "NumberOfStudyRelatedInstances"):
        setattr(ds, keyword, keys.get(keyword, ""))
    return ds


def latency(receiver: Receiver, label: str, make: Callable[[int], Dataset], queries: int,
            patients: int) -> None:
    rng = random.Random(1)
    times, counts = [], []
    for _ in range(queries):
        seconds, matches = timed_find(receiver, make(rng.randrange(patients)))
        times.append(seconds * 1000)
        counts.append(matches)
    p50 = statistics.median(times)
    p95 = statistics.quantiles(times, n=20)[18]
    print(f"  {label:34s} p50 {p50:6.1f} ms   p95 {p95:6.1f} ms   "
          f"({statistics.mean(counts):.1f} matches on average)")


def ingest_rate(receiver: Receiver, corpus: Path, count: int) -> float:
    return count / storescu(receiver, corpus, "-xe")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-find-") as tmp:
        root = Path(tmp)
        tiny = OphthalmicImage(Laterality.RIGHT, pixels=np.full((8, 8), 128, np.uint8))
        write_corpus(root / "corpus", [tiny], 1000)
        with fovea(root / "empty") as receiver:
            empty_rate = ingest_rate(receiver, root / "corpus", 1000)
        (root / "full").mkdir()
        fill_index(root / "full" / "data", args.instances, root / "full")
        patients = args.instances // (4 * IMAGES_PER_SERIES)
        with fovea(root / "full" / "pacs", database_url=_sqlite(root / "full" / "data")) as r:
            print(f"C-FIND at study level, {args.instances} instances indexed:")
            latency(r, "PatientID exact", lambda p: study_query(PatientID=f"PID{p:06d}"),
                    args.queries, patients)
            latency(r, "AccessionNumber exact",
                    lambda p: study_query(AccessionNumber=f"ACC{2 * p:08d}"),
                    args.queries, patients)
            latency(r, "PatientName wildcard (two letters*)",
                    lambda p: study_query(PatientName=f"{SURNAMES[p % len(SURNAMES)][:2]}*"),
                    max(20, args.queries // 10), patients)
            full_rate = ingest_rate(r, root / "corpus", 1000)
        print(f"C-STORE of 1000 tiny images: empty archive {empty_rate:.1f}/s, "
              f"with {args.instances} indexed {full_rate:.1f}/s, "
              f"ratio {full_rate / empty_rate:.2f}")


def _sqlite(data_dir: Path) -> str:
    return f"sqlite:///{(data_dir / 'pacs.db').resolve()}"


if __name__ == "__main__":
    main()
