"""Command line: python -m labgrader <command> (or ./course <command>)."""
import argparse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv=None):
    parser = argparse.ArgumentParser(prog="labgrader", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("demo", help="grade the demo class into the SQLite gradebook and print the grades")
    args = parser.parse_args(argv)
    if args.command == "demo":
        from labgrader import demo
        demo.run(ROOT)


if __name__ == "__main__":
    main()
