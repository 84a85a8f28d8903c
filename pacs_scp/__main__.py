"""``python -m pacs_scp``: run the archive until SIGINT or SIGTERM."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Sequence

from imaging_common.exceptions import ConfigError
from imaging_common.logs import configure_logging, get_logger
from imaging_common.metrics import add_metrics_option, serve_metrics
from imaging_common.settings import load_settings, service_argument_parser
from pacs_scp.config import load_archive_config
from pacs_scp.server import start_server

log = get_logger("pacs_scp")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the archive; returns the process exit status."""
    try:
        settings = load_settings("pacs", argv, parser=add_metrics_option(
            service_argument_parser("Fovea PACS: DICOM archive (C-STORE, C-FIND, "
                                    "C-MOVE, C-GET, storage commitment)")))
        config = load_archive_config(settings.config_path)
    except ConfigError as exc:
        print(f"pacs_scp: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_format)
    try:
        metrics = serve_metrics(settings)
    except OSError as exc:
        print(f"pacs_scp: metrics port {settings.node.metrics_port}: {exc}", file=sys.stderr)
        return 2
    server = start_server(settings, config)
    print(
        f"Fovea PACS ready: AE title {settings.ae_title}, "
        f"{settings.bind_address}:{server.server_address[1]}, data in {settings.data_dir}/\n"
        f"  try: echoscu -aet WEASIS_AE -aec {settings.ae_title} "
        f"{settings.node.host} {server.server_address[1]}"
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
