"""``python -m emr``: serve the EMR on its HTTP port until interrupted."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from emr.app import configure_emr_logging, create_app
from emr.archive_outbox import start_resending
from emr.config import load_config
from imaging_common.exceptions import ConfigError
from imaging_common.logs import get_logger
from imaging_common.web.serving import check_production_serving, serve

log = get_logger("emr")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the EMR; returns the process exit status."""
    try:
        config = load_config(sys.argv[1:] if argv is None else argv)
        if config.production:
            check_production_serving(config.web, "the EMR")
    except ConfigError as exc:
        print(f"emr: {exc}", file=sys.stderr)
        return 2
    configure_emr_logging(config.log_format)
    app = create_app(config)
    print(f"Fovea EMR ready on {config.web.scheme}://{config.bind_address}:{config.http_port}/ "
          f"({config.environment}; database {config.database_url.split(':', 1)[0]})\n"
          f"  first administrator: flask --app emr create-admin", flush=True)
    log.info("listening", host=config.bind_address, port=config.http_port,
             environment=config.environment, https=config.web.https)
    # What the PACS has not taken yet (signed reports, printable reports) is sent again.
    resending = start_resending(app, config.archive_resend_seconds)
    try:
        serve(app, config.bind_address, config.http_port, config.web)
    except ConfigError as exc:
        print(f"emr: {exc}", file=sys.stderr)
        return 2
    finally:
        resending.set()
    return 0


if __name__ == "__main__":
    sys.exit(main())
