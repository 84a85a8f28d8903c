"""Load the network: stations storing into the PACS while the AI node grades; prints figures.

    .venv/bin/python scripts/load.py [--images 2000] [--orders 200] [--stations 4] [--workers 2]

Starts a throwaway network as :mod:`bench_ai` does: its own redis-server, the
real PACS as a subprocess (``python -m pacs_scp``, own data folder), the EMR
over HTTP, the AI node's storage SCP and ``python -m ai_node.worker``
processes. Then, at the same moment:

* ``--stations`` processes C-STORE ``--images`` Ophthalmic Photography images
  in all (small synthetic fundus JPEGs, two to a study), each on its own
  associations as the station's AE, ``BATCH_SIZE`` images to an association
  like the station's outbox sender (no storage commitment);
* ``--orders`` EMR orders, whose two photographs were stored beforehand, are
  enqueued for grading.

At the end it checks that every image is in the PACS index exactly once and
answered once by a C-FIND at IMAGE level in its study, and that every order
reached *AI done*, and prints images/s stored, orders/min, the p50/p95
C-STORE latency per image and the p95 order latency (enqueue -> *AI done*).
It asserts no thresholds; it exits 1 when a check fails.
"""

from __future__ import annotations

import argparse
import logging
import math
import multiprocessing
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench_ai import start_emr, start_redis  # noqa: E402
from pydicom.dataset import Dataset  # noqa: E402
from pynetdicom import AE  # noqa: E402
from redis import Redis  # noqa: E402
from sqlalchemy import create_engine, func, select  # noqa: E402

from ai_node.config import load_config  # noqa: E402
from ai_node.dispatch import Dispatcher  # noqa: E402
from ai_node.emr_api import EmrApi  # noqa: E402
from ai_node.inbox import Inbox  # noqa: E402
from ai_node.scp import start_storage_scp  # noqa: E402
from emr.database import session  # noqa: E402
from emr.models import Order  # noqa: E402
from emr.models.orders import OrderTransition  # noqa: E402
from emr.states import OrderState  # noqa: E402
from imaging_common.builders import (Equipment, Laterality, OphthalmicImage,  # noqa: E402
                                     Patient, Request, build_ophthalmic_photograph)
from imaging_common.dimse import associate  # noqa: E402
from imaging_common.levels import Level  # noqa: E402
from imaging_common.logs import configure_logging  # noqa: E402
from imaging_common.query_scu import find  # noqa: E402
from imaging_common.settings import Node, load_settings  # noqa: E402
from imaging_common.sop_classes import storage_contexts  # noqa: E402
from imaging_common.store_scu import StoreOutcome  # noqa: E402
from imaging_common.uids import new_uid  # noqa: E402
from modality_scu.sender import BATCH_SIZE  # noqa: E402
from modality_scu.synthetic import synthetic_jpeg  # noqa: E402
from pacs_scp.models import Instance  # noqa: E402
from tests.ai_node.node_peers import (AI_TOKEN, STATION_AE, LiveEmr,  # noqa: E402
                                      photographs, send_to_pacs, spawn_worker,
                                      write_node_network)

IMAGES_PER_STUDY = 2  # a screening: right eye, then left
JPEG_SIZE = 256
PACS_START_TIMEOUT = 60.0
ORDER_TIMEOUT = 1800.0


@dataclass
class StationReport:
    """What one station process stored, and how long each C-STORE took."""

    station: int
    kept: dict[str, str] = field(default_factory=dict)  # SOP Instance UID -> Study UID
    failures: list[str] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    started: float = 0.0
    ended: float = 0.0


@dataclass(frozen=True)
class PacsProcess:
    """``python -m pacs_scp`` on this network, and where it keeps its index."""

    process: subprocess.Popen[str]
    node: Node
    database_url: str

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def start_pacs(network: Path, folder: Path) -> PacsProcess:
    """The archive as a subprocess, returned once it says it is ready."""
    argv = ["--config", str(network), "--data-dir", str(folder / "pacs"),
            "--database-url", f"sqlite:///{folder / 'pacs.db'}"]
    settings = load_settings("pacs", argv, environ={})
    log = (folder / "pacs.log").open("w")
    process = subprocess.Popen([sys.executable, "-m", "pacs_scp", *argv], cwd=REPO,
                               env={"PATH": "/usr/bin:/bin"}, stdout=subprocess.PIPE,
                               stderr=log, text=True)
    log.close()
    pacs = PacsProcess(process, settings.node, settings.database_url)
    ready = threading.Event()
    threading.Thread(target=_watch_pacs, args=(process, ready), daemon=True).start()
    if not ready.wait(PACS_START_TIMEOUT):
        pacs.stop()
        raise RuntimeError(f"the PACS did not start; see {folder / 'pacs.log'}")
    return pacs


def _watch_pacs(process: subprocess.Popen[str], ready: threading.Event) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("Fovea PACS ready"):
            ready.set()


def station_images(station: int, count: int) -> list[Dataset]:
    """``count`` photographs of this station, two to a study, from four small JPEGs."""
    jpegs = {(eye, grade): synthetic_jpeg(seed=station * 10 + grade, grade=grade,
                                          laterality=eye, size=JPEG_SIZE)
             for eye in ("R", "L") for grade in (0, 2)}
    equipment = Equipment(model_name="Load fundus camera", station_name=f"LOAD{station}")
    datasets = []
    for index in range(count):
        number = index % IMAGES_PER_STUDY
        if number == 0:
            study = index // IMAGES_PER_STUDY
            patient = Patient(f"LOAD{station:02d}-{study:05d}", "Load^Patient",
                              date(1960, 1, 1), "O")
            request = Request(new_uid(), accession_number=f"L{station:02d}{study:06d}")
            series = new_uid()
        eye = ("R", "L")[number]
        image = OphthalmicImage(Laterality(eye), jpeg=jpegs[eye, study % 2 * 2])
        datasets.append(build_ophthalmic_photograph(image, patient, request, equipment,
                                                    series, instance_number=number + 1))
    return datasets


def run_station(station: int, count: int, pacs: Node, go: Event,
                reports: multiprocessing.Queue[StationReport]) -> None:
    """One station process: build its images, wait for the start, C-STORE them all."""
    datasets = station_images(station, count)
    report = StationReport(station)
    ae = AE(STATION_AE)
    go.wait()
    report.started = time.time()
    for first in range(0, len(datasets), BATCH_SIZE):
        store_batch(ae, pacs, datasets[first:first + BATCH_SIZE], report)
    report.ended = time.time()
    reports.put(report)


def store_batch(ae: AE, pacs: Node, batch: list[Dataset], report: StationReport) -> None:
    """C-STORE ``batch`` on one association, timing each request to its response."""
    pairs = [(str(ds.SOPClassUID), str(ds.file_meta.TransferSyntaxUID)) for ds in batch]
    with associate(ae, pacs, storage_contexts(pairs)) as assoc:
        for ds in batch:
            start = time.perf_counter()
            status = assoc.send_c_store(ds)
            report.seconds.append(time.perf_counter() - start)
            uid = str(ds.SOPInstanceUID)
            code = int(status.Status) if status and "Status" in status else None
            if StoreOutcome(uid, code).kept:
                report.kept[uid] = str(ds.StudyInstanceUID)
            else:
                report.failures.append(f"{uid}: {StoreOutcome(uid, code).describe()}")


def new_orders(emr: LiveEmr, pacs: PacsProcess, count: int) -> dict[int, list[str]]:
    """``count`` acquired orders, their two photographs in the PACS; SOP UIDs by order."""
    orders = {}
    for index in range(count):
        order_id = emr.add_order(mrn=f"MRN-LOAD-{index:05d}")
        datasets = photographs(emr, order_id)
        send_to_pacs(pacs, datasets)  # type: ignore[arg-type]  # needs only .node
        orders[order_id] = [str(ds.SOPInstanceUID) for ds in datasets]
    return orders


def enqueue_all(dispatcher: Dispatcher, order_ids: list[int]) -> dict[int, datetime]:
    """Queue every order for grading; the moment (UTC) each was enqueued."""
    enqueued = {}
    for order_id in order_ids:
        enqueued[order_id] = datetime.now(UTC)
        dispatcher.enqueue(order_id, "load")
    return enqueued


def wait_graded(emr: LiveEmr, order_ids: list[int]) -> dict[int, datetime]:
    """Wait until no order is queued or running; when each reached *AI done* (UTC)."""
    busy = (OrderState.ACQUIRED, OrderState.AI_QUEUED, OrderState.AI_RUNNING)
    deadline = time.monotonic() + ORDER_TIMEOUT
    with emr.app.app_context():
        db = session()
        while db.scalar(select(func.count()).select_from(Order).where(
                Order.id.in_(order_ids), Order.state.in_(busy))):
            if time.monotonic() > deadline:
                break
            db.rollback()  # a fresh snapshot on the next poll
            time.sleep(0.2)
        rows = db.execute(select(OrderTransition.order_id, func.min(OrderTransition.at))
                          .where(OrderTransition.order_id.in_(order_ids),
                                 OrderTransition.to_state == OrderState.AI_DONE)
                          .group_by(OrderTransition.order_id)).all()
        done = {int(order_id): at for order_id, at in rows}
        states = {order_id: state for order_id, state in db.execute(
            select(Order.id, Order.state).where(Order.id.in_(order_ids))).all()}
    not_done = [i for i in order_ids if states.get(i) != OrderState.AI_DONE]
    return {i: at for i, at in done.items() if i not in not_done}


def indexed_instances(pacs: PacsProcess) -> Counter[str]:
    """SOP Instance UIDs in the PACS index, with how many rows each has."""
    engine = create_engine(pacs.database_url)
    try:
        with engine.connect() as connection:
            return Counter(connection.scalars(select(Instance.sop_instance_uid)).all())
    finally:
        engine.dispose()


def found_in_study(pacs: Node, study_uid: str) -> list[str]:
    """C-FIND at IMAGE level: the SOP Instance UIDs the PACS lists in the study."""
    query = Dataset()
    query.QueryRetrieveLevel = Level.IMAGE.value
    query.StudyInstanceUID = study_uid
    query.SeriesInstanceUID = ""
    query.SOPInstanceUID = ""
    return [str(ds.SOPInstanceUID) for ds in find(AE(STATION_AE), pacs, query)]


def check_images(pacs: PacsProcess, expected: dict[str, str],
                 order_studies: set[str]) -> list[str]:
    """Every image sent indexed once and found once in its study; the problems found.

    The AI node stores its results in the orders' studies: those are counted,
    not checked. A station's study must hold exactly the images sent.
    """
    problems = []
    indexed = indexed_instances(pacs)
    missing = set(expected) - set(indexed)
    twice = [uid for uid in expected if indexed[uid] > 1]
    if missing or twice:
        problems.append(f"index: {len(missing)} missing, {len(twice)} duplicated")
    studies = sorted(set(expected.values()))
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = dict(zip(studies, pool.map(lambda s: found_in_study(pacs.node, s), studies)))
    wrong = [study for study, uids in answers.items()
             if _wrong_answer(study, uids, expected, study in order_studies)]
    if wrong:
        problems.append(f"C-FIND IMAGE: {len(wrong)} of {len(studies)} studies answer "
                        "a wrong list of instances")
    found = sum(uid in expected for uids in answers.values() for uid in uids)
    others = sum(len(uids) for uids in answers.values()) - found
    print(f"check: {len(expected)} images sent, {len(expected) - len(missing)} in the index "
          f"({len(twice)} twice); C-FIND IMAGE level over {len(studies)} studies lists "
          f"{found} of them, plus {others} AI result objects in the order studies")
    return problems


def _wrong_answer(study: str, uids: list[str], expected: dict[str, str],
                  ai_results_allowed: bool) -> bool:
    sent = Counter(uid for uid in uids if uid in expected)
    if any(expected[uid] != study or n > 1 for uid, n in sent.items()):
        return True
    if sum(1 for s in expected.values() if s == study) != len(sent):
        return True
    return not ai_results_allowed and len(sent) != len(uids)


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (the value at rank ceil(fraction * n))."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1]


def start_stations(args: argparse.Namespace, pacs: Node, stack: ExitStack
                   ) -> tuple[Event, multiprocessing.Queue[StationReport]]:
    """Spawn the station processes; they build their images and wait for ``go``."""
    context = multiprocessing.get_context("spawn")
    go = context.Event()
    reports: multiprocessing.Queue[StationReport] = context.Queue()
    shares = [args.images // args.stations + (i < args.images % args.stations)
              for i in range(args.stations)]
    for station, count in enumerate(shares, start=1):
        process = context.Process(target=run_station, args=(station, count, pacs, go, reports),
                                  daemon=True)
        process.start()
        stack.callback(_stop_process, process)
    return go, reports


def _stop_process(process: multiprocessing.process.BaseProcess) -> None:
    process.join(timeout=5)
    if process.is_alive():
        process.kill()
        process.join(timeout=5)


def start_network(folder: Path, args: argparse.Namespace, stack: ExitStack) -> dict[str, Any]:
    """Redis, the PACS subprocess, the EMR, the node's SCP and workers; ``stack`` stops them."""
    redis_process, redis_url = start_redis(folder)
    stack.callback(lambda: (redis_process.terminate(), redis_process.wait(timeout=10)))
    network = write_node_network(folder / "network.toml",
                                 max_associations=args.stations + 2 * args.workers + 8)
    pacs = start_pacs(network.path, folder)
    stack.callback(pacs.stop)
    emr = start_emr(folder)
    stack.callback(emr.server.shutdown)
    configure_logging(level="WARNING")  # figures only: quiet the EMR and SCP in this process
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    config = load_config(["--config", str(network.path), "--data-dir", str(folder / "ai"),
                          "--emr-url", emr.url, "--redis-url", redis_url,
                          "--registry", str(REPO / "models")],
                         environ={"FOVEA_EMR_TOKEN_AI": AI_TOKEN})
    scp = start_storage_scp(config.settings, Inbox(config.inbox_dir))
    stack.callback(scp.shutdown)
    for _ in range(args.workers):
        stack.callback(spawn_worker(config).stop)
    dispatcher = Dispatcher(Redis.from_url(redis_url),
                            EmrApi.connect(config.emr_url, config.emr_token, 10.0), config)
    return {"pacs": pacs, "emr": emr, "dispatcher": dispatcher}


def run_load(args: argparse.Namespace, folder: Path) -> int:
    with ExitStack() as stack:
        peers = start_network(folder, args, stack)
        pacs, emr = peers["pacs"], peers["emr"]
        go, reports = start_stations(args, pacs.node, stack)
        orders = new_orders(emr, pacs, args.orders)
        start = time.time()
        go.set()
        enqueued = enqueue_all(peers["dispatcher"], list(orders))
        stations = [reports.get(timeout=ORDER_TIMEOUT) for _ in range(args.stations)]
        done = wait_graded(emr, list(orders))
        expected = {uid: study for s in stations for uid, study in s.kept.items()}
        for order_id, uids in orders.items():
            expected.update(dict.fromkeys(uids, emr.order(order_id).study_instance_uid))
        problems = check_images(pacs, expected, {
            expected[uids[0]] for uids in orders.values()})
    problems += [f"station {s.station}: {f}" for s in stations for f in s.failures]
    if len(done) != len(orders):
        problems.append(f"orders: {len(orders) - len(done)} of {len(orders)} "
                        "did not reach 'ai_done'")
    report(args, start, stations, enqueued, done)
    for problem in problems:
        print(f"FAILED {problem}")
    return 1 if problems else 0


def report(args: argparse.Namespace, start: float, stations: list[StationReport],
           enqueued: dict[int, datetime], done: dict[int, datetime]) -> None:
    kept = sum(len(s.kept) for s in stations)
    seconds = [t for s in stations for t in s.seconds]
    store_span = max(s.ended for s in stations) - min(s.started for s in stations)
    order_seconds = [(done[i] - enqueued[i]).total_seconds() for i in done]
    print(f"stations: {args.stations} processes stored {kept} of {args.images} images in "
          f"{store_span:.1f} s: {kept / store_span:.1f} images/s")
    if seconds:
        print(f"C-STORE latency per image: p50 {percentile(seconds, 0.5) * 1000:.1f} ms, "
              f"p95 {percentile(seconds, 0.95) * 1000:.1f} ms, "
              f"max {max(seconds) * 1000:.1f} ms")
    if order_seconds:
        span = max(done.values()) - min(enqueued.values())
        print(f"AI: {len(done)} of {len(enqueued)} orders 'ai_done' on {args.workers} workers "
              f"in {span.total_seconds():.1f} s: "
              f"{len(done) / span.total_seconds() * 60:.1f} orders/min")
        print(f"order latency enqueue -> 'ai_done': "
              f"p50 {statistics.median(order_seconds):.2f} s, "
              f"p95 {percentile(order_seconds, 0.95):.2f} s, max {max(order_seconds):.2f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000, help="images stored in all")
    parser.add_argument("--orders", type=int, default=200, help="AI orders enqueued")
    parser.add_argument("--stations", type=int, default=4, help="station processes")
    parser.add_argument("--workers", type=int, default=2, help="AI worker processes")
    args = parser.parse_args()
    if min(args.images, args.orders, args.stations, args.workers) < 1:
        parser.error("every count must be at least 1")
    with tempfile.TemporaryDirectory(prefix="load-") as name:
        return run_load(args, Path(name))


if __name__ == "__main__":
    sys.exit(main())
