"""``python -m protocol export [--check]``: regenerate (or verify) the checked-in protocol schemas."""

import argparse
import sys
from pathlib import Path

from .export import SCHEMA_DIR, export


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m protocol", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    export_cmd = commands.add_parser("export", help="write protocol/schema/*.json from the frame definitions")
    export_cmd.add_argument("--check", action="store_true", help="only compare; exit 1 if a file is stale")
    export_cmd.add_argument("--out", type=Path, default=SCHEMA_DIR, help="output directory (default: %(default)s)")
    args = parser.parse_args(argv)

    stale = export(args.out, check=args.check)
    if args.check:
        for path in stale:
            print(f"stale: {path} (run `python -m protocol export`)", file=sys.stderr)
        return 1 if stale else 0
    for path in stale:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
