"""``python -m ai_node``: the node's storage SCP and the nurses' page, until SIGINT or SIGTERM.

The grading itself runs in workers: ``python -m ai_node.worker``.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Sequence

from redis import Redis

from imaging_common.exceptions import ConfigError
from imaging_common.logs import configure_logging, get_logger
from imaging_common.web.serving import check_production_serving, make_server

from ai_node.config import AiConfig, argument_parser, load_config, with_page_secret
from ai_node.dispatch import Dispatcher
from ai_node.emr_api import EmrApi
from ai_node.inbox import Inbox
from ai_node.poller import AutoRun
from ai_node.scp import start_storage_scp
from ai_node.web import create_app

log = get_logger("ai_node")


def _dispatcher(config: AiConfig) -> Dispatcher:
    emr = EmrApi.connect(config.emr_url, config.emr_token, config.emr_timeout)
    return Dispatcher(Redis.from_url(config.redis_url), emr, config)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the node; returns the process exit status."""
    try:
        config = with_page_secret(load_config(argv, parser=argument_parser(
            "Fovea AI node: storage SCP for the PACS's C-MOVE and the nurses' page")))
        if config.environment == "production":
            check_production_serving(config.settings.web, "the AI node's page")
    except ConfigError as exc:
        print(f"ai_node: {exc}", file=sys.stderr)
        return 2
    configure_logging(config.settings.log_format)
    # Werkzeug's access log writes whole URLs; the app logs each request's route.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    scp = start_storage_scp(config.settings, Inbox(config.inbox_dir, config.settings.fsync))
    dispatcher = _dispatcher(config)
    app = create_app(config, dispatcher)
    web = make_server(app, config.settings.bind_address, config.http_port,
                      config.settings.web).start()
    auto_run = AutoRun(dispatcher, config.poll_seconds).start() if config.auto_run else None
    print(f"Fovea AI node ready: AE title {config.settings.ae_title} on "
          f"{config.settings.bind_address}:{scp.server_address[1]}, page on "
          f"{config.settings.web.scheme}://{config.settings.bind_address}:{web.port}/\n"
          f"  workers: python -m ai_node.worker (queue {config.queue!r} on {config.redis_url})\n"
          f"  nurses sign on through the EMR: its accounts with the nurse role",
          flush=True)
    log.info("page listening", host=config.settings.bind_address, port=web.port,
             auto_run=config.auto_run)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    stop.wait()
    log.info("stopping")
    if auto_run is not None:
        auto_run.stop()
    web.stop()
    scp.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
