"""``python -m emr``: serve the EMR on its HTTP port until interrupted."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from werkzeug.serving import run_simple

from emr.app import configure_emr_logging, create_app
from emr.config import load_config
from imaging_common.exceptions import ConfigError
from imaging_common.logs import get_logger

log = get_logger("emr")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the EMR; returns the process exit status."""
    try:
        config = load_config(sys.argv[1:] if argv is None else argv)
    except ConfigError as exc:
        print(f"emr: {exc}", file=sys.stderr)
        return 2
    configure_emr_logging(config.log_format)
    app = create_app(config)
    print(f"Fovea EMR ready on http://{config.bind_address}:{config.http_port}/ "
          f"({config.environment}; database {config.database_url.split(':', 1)[0]})\n"
          f"  first administrator: flask --app emr create-admin", flush=True)
    log.info("listening", host=config.bind_address, port=config.http_port,
             environment=config.environment)
    # Werkzeug's threaded server suits one site; a larger one puts the app
    # behind a WSGI server (e.g. gunicorn "emr:create_app()").
    run_simple(config.bind_address, config.http_port, app, threaded=True,
               use_reloader=False, use_debugger=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
