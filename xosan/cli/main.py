"""The ``xosan`` command: plan, deploy and operate XOSAN (the lab is ``python -m xosan_lab``, never shipped)."""

import argparse
import sys

from xosan import __version__
from xosan.cli import deploy as cli_deploy
from xosan.cli import operate as cli_operate
from xosan.cli import rolling as cli_rolling
from xosan.cli import rotate as cli_rotate
from xosan.cli import tune as cli_tune
from xosan.cli import upgrade as cli_upgrade
from xosan.cli import witness as cli_witness
from xosan.errors import XosanError


def build_parser():
    parser = argparse.ArgumentParser(
        prog="xosan",
        description="XOSAN: hyperconverged GlusterFS storage for XenServer / XCP-ng pools.")
    parser.add_argument("--version", action="version", version="xosan %s" % __version__)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    cli_deploy.register(sub)
    cli_operate.register(sub)
    cli_rolling.register(sub)
    cli_rotate.register(sub)
    cli_tune.register(sub)
    cli_upgrade.register(sub)
    cli_witness.register(sub)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 0
    try:
        return args.func(args) or 0
    except XosanError as exc:
        sys.stderr.write("xosan: error: %s\n" % exc)
        return 1


if __name__ == "__main__":
    sys.exit(main())
