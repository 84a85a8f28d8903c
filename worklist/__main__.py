"""``python -m worklist``: run the Modality Worklist and MPPS SCP until SIGINT or SIGTERM."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Sequence

from imaging_common.exceptions import ConfigError
from imaging_common.logs import configure_logging, get_logger
from imaging_common.metrics import serve_metrics
from worklist.config import load_config
from worklist.server import start_server

log = get_logger("worklist")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the worklist; returns the process exit status."""
    try:
        config = load_config(argv)
    except ConfigError as exc:
        print(f"worklist: {exc}", file=sys.stderr)
        return 2
    settings = config.settings
    configure_logging(settings.log_format)
    try:
        metrics = serve_metrics(settings)
    except OSError as exc:
        print(f"worklist: metrics port {settings.node.metrics_port}: {exc}", file=sys.stderr)
        return 2
    server = start_server(config)
    port = server.server_address[1]
    station = sorted(settings.node.accepts)[0]
    print(
        f"Fovea worklist ready: AE title {settings.ae_title}, "
        f"{settings.bind_address}:{port}, EMR at {config.emr_url}, "
        f"steps in {config.steps_dir}/\n"
        f"  try: findscu -W -aet {station} -aec {settings.ae_title} "
        f"{settings.node.host} {port} -k ScheduledProcedureStepSequence[0].Modality=OP "
        f"-k PatientName"
        + (f"\n  metrics: http://{settings.node.host}:{metrics.port}/metrics"
           if metrics else ""),
        flush=True,
    )
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    stop.wait()
    log.info("stopping")
    server.shutdown()
    if metrics is not None:
        metrics.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
