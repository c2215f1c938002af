"""Shared start-up for the console scripts: config files, logging."""
from __future__ import annotations

import logging
import sys
from typing import Sequence

from oslo_config import cfg
from oslo_log import log

from cascade import config, logfilters

__all__ = ["load_config", "require_service_password"]


def load_config(argv: list[str] | None,
                cli_opts: Sequence[cfg.Opt] = ()) -> cfg.ConfigOpts:
    """Parse ``--config-file`` and friends, register options, set up oslo.log."""
    conf = cfg.ConfigOpts()
    log.register_options(conf)
    conf.register_cli_opts(list(cli_opts))
    config.load(sys.argv[1:] if argv is None else argv, conf=conf)
    log.setup(conf, "cascade")
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logfilters.install()
    return conf


#: Exit status of a process that refuses to start for its configuration.
EXIT_CONFIG = 2


def require_service_password(conf: cfg.ConfigOpts) -> None:
    """Refuse to start without ``[service_credentials] password``: Cascade's own
    identity must be configured, never a built-in default anyone can read.

    :raises SystemExit: with ``EXIT_CONFIG`` and a message saying what to set.
    """
    if not conf.service_credentials.password:
        print("cascade: [service_credentials] password is not set. Cascade calls the "
              "regions and Keystone as its own service user; set that user's password "
              "in cascade.conf (see etc/cascade.conf.sample).", file=sys.stderr)
        raise SystemExit(EXIT_CONFIG)
