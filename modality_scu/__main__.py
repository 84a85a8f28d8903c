"""``python -m modality_scu``: serve the station's pages and run its outbox sender."""

from __future__ import annotations

import signal
import sys
from collections.abc import Sequence

from imaging_common.exceptions import ConfigError
from imaging_common.logs import get_logger
from imaging_common.web.serving import check_production_serving, serve
from modality_scu.app import configure_station_logging, create_app
from modality_scu.config import load_config
from modality_scu.web import CONTEXT_KEY, StationContext

log = get_logger("modality_scu")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the station; returns the process exit status."""
    try:
        config = load_config(sys.argv[1:] if argv is None else argv)
        if config.production:
            check_production_serving(config.settings.web, "the station")
    except ConfigError as exc:
        print(f"modality_scu: {exc}", file=sys.stderr)
        return 2
    configure_station_logging(config.settings.log_format)
    app = create_app(config)
    context: StationContext = app.extensions[CONTEXT_KEY]
    context.sender.start()  # resumes whatever a previous run left in the outbox
    host = config.settings.bind_address
    scheme = config.settings.web.scheme
    print(f"Fovea station ready on {scheme}://{host}:{config.http_port}/ as AE {config.ae_title} "
          f"(worklist {config.worklist.ae_title}, archive {config.pacs.ae_title}; "
          f"data in {config.settings.data_dir}/)\n"
          f"  technicians sign on through the EMR: its accounts with the technician role",
          flush=True)
    log.info("listening", host=host, port=config.http_port, ae_title=config.ae_title)
    # SIGTERM ends the server like Ctrl-C does, so the sender finishes its round.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        serve(app, host, config.http_port, config.settings.web)
    finally:
        context.sender.stop()
        log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
