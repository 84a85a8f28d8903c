"""Benchmark the AI node end to end on throwaway peers; prints figures, asserts nothing.

    .venv/bin/python scripts/bench_ai.py [--orders 10] [--batch 12]

Starts its own redis-server, PACS, EMR (over HTTP), the node's storage SCP
and ``python -m ai_node.worker`` processes, with the helpers the tests use
(:mod:`tests.ai_node.node_peers`), and measures:

1. latency: seconds from Run (enqueue) to the EMR order *AI done*, for an
   order of two photographs on a warm worker (median of ``--orders``);
2. one worker's images per second end to end against the served TFLite
   model's raw rate on the same preprocessed images;
3. throughput of one worker against two on ``--batch`` orders.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from redis import Redis  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from ai_node.config import AiConfig, load_config  # noqa: E402
from ai_node.dispatch import Dispatcher  # noqa: E402
from ai_node.emr_api import EmrApi  # noqa: E402
from ai_node.inbox import Inbox  # noqa: E402
from ai_node.scp import start_storage_scp  # noqa: E402
from emr import EmrConfig, ServiceToken, create_app  # noqa: E402
from emr.accounts import create_user  # noqa: E402
from emr.database import session  # noqa: E402
from emr.models import Role  # noqa: E402
from imaging_common.settings import load_settings  # noqa: E402
from pacs_scp.server import start_server  # noqa: E402
from tests.ai_node.node_peers import (AI_TOKEN, FAST_HASH, PASSWORD, STATION_AE,  # noqa: E402
                                      LiveEmr, LivePacs, photographs, send_to_pacs,
                                      spawn_worker, write_node_network)
from tests.conftest import free_port  # noqa: E402

IMAGES_PER_ORDER = 2


def start_redis(folder: Path) -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    process = subprocess.Popen(
        [shutil.which("redis-server") or "redis-server", "--port", str(port), "--bind",
         "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(folder)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    for line in process.stdout:
        if "Ready to accept connections" in line:
            break
    threading.Thread(target=process.stdout.read, daemon=True).start()
    return process, f"redis://127.0.0.1:{port}/0"


def start_emr(folder: Path) -> LiveEmr:
    config = EmrConfig(
        secret_key="emr-bench-secret-" + "x" * 32, database_url=f"sqlite:///{folder / 'emr.db'}",
        environment="testing", data_dir=folder / "emr", stations=(STATION_AE,),
        password_hash_method=FAST_HASH,
        service_tokens=(ServiceToken("ai", AI_TOKEN, frozenset(
            {"orders:read", "orders:state", "results:write"})),))
    app = create_app(config)
    with app.app_context():
        create_user(session(), "nurse", "Nina Nurse", Role.NURSE, PASSWORD, FAST_HASH)
        session().commit()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return LiveEmr(app, server)


def wait_done(emr: LiveEmr, order_ids: list[int], timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    pending = set(order_ids)
    while pending:
        pending = {i for i in pending if emr.order(i).state.value != "ai_done"}
        if pending and time.monotonic() > deadline:
            raise RuntimeError(f"orders {sorted(pending)} not graded in {timeout} s")
        time.sleep(0.01)


def new_orders(emr: LiveEmr, pacs: LivePacs, count: int) -> list[int]:
    ids = []
    for _ in range(count):
        order_id = emr.add_order(mrn=f"MRN-B{free_port()}")
        send_to_pacs(pacs, photographs(emr, order_id))
        ids.append(order_id)
    return ids


def latency(emr: LiveEmr, pacs: LivePacs, dispatcher: Dispatcher, orders: int) -> list[float]:
    seconds = []
    for order_id in new_orders(emr, pacs, orders + 1):
        start = time.perf_counter()
        dispatcher.enqueue(order_id, "bench")
        wait_done(emr, [order_id])
        seconds.append(time.perf_counter() - start)
    return seconds[1:]  # the first warms the worker's first job


def stage_seconds(events: list[dict[str, object]]) -> dict[str, list[float]]:
    """Seconds each job spent in each stage, from the worker's "job stage" log lines."""
    entered: dict[str, tuple[str, datetime]] = {}
    seconds: dict[str, list[float]] = {}
    for event in events:
        if event.get("event") != "job stage":
            continue
        job, moment = str(event.get("job_id")), datetime.fromisoformat(str(event["timestamp"]))
        if job in entered:
            stage, since = entered[job]
            seconds.setdefault(stage, []).append((moment - since).total_seconds())
        entered[job] = (str(event["stage"]), moment)
    return seconds


def throughput(config: AiConfig, emr: LiveEmr, pacs: LivePacs, dispatcher: Dispatcher,
               workers: int, batch: int) -> tuple[float, dict[str, list[float]]]:
    """Images per second of ``workers`` worker processes on ``batch`` orders, and
    the seconds spent in each stage."""
    spawned = [spawn_worker(config) for _ in range(workers)]
    try:
        ids = new_orders(emr, pacs, batch)
        start = time.perf_counter()
        for order_id in ids:
            dispatcher.enqueue(order_id, "bench")
        wait_done(emr, ids)
        rate = batch * IMAGES_PER_ORDER / (time.perf_counter() - start)
        time.sleep(0.5)  # the workers' last log lines
        return rate, stage_seconds([e for w in spawned for e in w.events])
    finally:
        for worker in spawned:
            worker.stop()


def raw_inference_rate(config: AiConfig, emr: LiveEmr, repeats: int = 20) -> float:
    """Images per second of the served model alone on the preprocessed photographs."""
    import numpy as np

    from ai_node.grading import photograph_rgb
    from ai_node.model.preprocessing import preprocess
    from ai_node.model.serving import load_active

    served = load_active(config.registry, config.model)
    order_id = emr.add_order(mrn="MRN-RAW")
    inputs = [preprocess(photograph_rgb(ds), served.grader.input_size)[None]
              for ds in photographs(emr, order_id)]
    served.grader.predict_with_maps(inputs[0])  # warm up
    start = time.perf_counter()
    for _ in range(repeats):
        for batch in inputs:
            served.grader.predict_with_maps(np.ascontiguousarray(batch))
    return repeats * len(inputs) / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=10, help="orders timed one by one")
    parser.add_argument("--batch", type=int, default=12, help="orders per throughput run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-ai-") as name:
        folder = Path(name)
        redis_process, redis_url = start_redis(folder)
        network = write_node_network(folder / "network.toml")
        pacs_settings = load_settings("pacs", [
            "--config", str(network.path), "--data-dir", str(folder / "pacs"),
            "--database-url", f"sqlite:///{folder / 'pacs.db'}"], environ={})
        pacs = LivePacs(pacs_settings, start_server(pacs_settings))
        emr = start_emr(folder)
        config = load_config(["--config", str(network.path), "--data-dir", str(folder / "ai"),
                              "--emr-url", emr.url, "--redis-url", redis_url,
                              "--registry", str(REPO / "models")],
                             environ={"FOVEA_EMR_TOKEN_AI": AI_TOKEN})
        scp = start_storage_scp(config.settings, Inbox(config.inbox_dir))
        dispatcher = Dispatcher(Redis.from_url(redis_url),
                                EmrApi.connect(config.emr_url, config.emr_token, 10.0), config)
        try:
            worker = spawn_worker(config)
            try:
                seconds = latency(emr, pacs, dispatcher, args.orders)
            finally:
                worker.stop()
            one, stages = throughput(config, emr, pacs, dispatcher, 1, args.batch)
            two, _ = throughput(config, emr, pacs, dispatcher, 2, args.batch)
            raw = raw_inference_rate(config, emr)
        finally:
            scp.shutdown()
            pacs.stop()
            redis_process.terminate()
            redis_process.wait(timeout=10)
    print(f"Run -> EMR 'AI done', {IMAGES_PER_ORDER} images, warm worker: "
          f"median {statistics.median(seconds):.3f} s, min {min(seconds):.3f} s, "
          f"max {max(seconds):.3f} s over {len(seconds)} orders")
    print(f"one worker end to end: {one:.2f} images/s; served TFLite model alone: "
          f"{raw:.2f} images/s; ratio {one / raw:.3f}")
    print("one worker, median seconds per order in each stage: " + ", ".join(
        f"{stage} {statistics.median(values):.3f}" for stage, values in stages.items()))
    print(f"throughput on {args.batch} orders: 1 worker {one:.2f} images/s, "
          f"2 workers {two:.2f} images/s ({two / one:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
