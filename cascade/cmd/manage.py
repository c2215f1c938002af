"""cascade-manage: the operator tool. Every command returns a documented exit code
(see docs/cli.md); 127 means bad arguments, 130 interrupted (Ctrl-C), 255 an
unexpected error."""
from __future__ import annotations

import argparse
import asyncio
import sys
import traceback

from oslo_config import cfg

from cascade import config
from cascade.manage import db, images, jobs, mappings, network, quota, regions

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cascade-manage")
    parser.add_argument("--config-file", action="append", default=[],
                        help="cascade.conf (may be repeated)")
    sub = parser.add_subparsers(dest="group", required=True)
    db.add_parser(sub)
    regions.add_parser(sub)
    jobs.add_parser(sub)
    images.add_parser(sub)
    mappings.add_parser(sub)
    quota.add_parser(sub)
    network.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    except SystemExit as exc:
        return 0 if exc.code == 0 else 127
    conf = cfg.ConfigOpts()
    files: list[str] = []
    for f in args.config_file:
        files += ["--config-file", f]
    config.load(files, conf=conf)
    try:
        return int(asyncio.run(args.func(conf, args)))
    except KeyboardInterrupt:
        # Waiting commands (image replicate --wait) stop waiting; the work goes on.
        print("interrupted", file=sys.stderr)
        return 130
    except Exception:  # noqa: BLE001 - documented: 255 on a crash
        traceback.print_exc()
        return 255


if __name__ == "__main__":
    sys.exit(main())
