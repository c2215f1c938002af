"""Shared start-up for the console scripts: config files, logging."""
from __future__ import annotations

import logging
import sys
from typing import Sequence

from oslo_config import cfg
from oslo_log import log

from cascade import config

__all__ = ["load_config"]


def load_config(argv: list[str] | None,
                cli_opts: Sequence[cfg.Opt] = ()) -> cfg.ConfigOpts:
    """Parse ``--config-file`` and friends, register options, set up oslo.log."""
    conf = cfg.ConfigOpts()
    log.register_options(conf)
    conf.register_cli_opts(list(cli_opts))
    config.load(sys.argv[1:] if argv is None else argv, conf=conf)
    log.setup(conf, "cascade")
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    return conf
