"""``python -m labgrader.exchange setup``: the exchange of one course on one machine, as root.

    python -m labgrader.exchange setup --root /srv/nbgrader/exchange --course categorical-embeddings \\
        --instructor instructor [--config-dir /etc/jupyter]
"""
import argparse

from .layout import SetupRefused, make_exchange, write_global_config


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m labgrader.exchange", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    setup = sub.add_parser("setup", help="make the exchange root (root, 1777) and the course's folders, "
                                         "and write the machine-wide nbgrader and Jupyter server config")
    setup.add_argument("--root", default="/srv/nbgrader/exchange")
    setup.add_argument("--course", required=True)
    setup.add_argument("--instructor", required=True, help="the unix user who runs the course")
    setup.add_argument("--config-dir", default="/etc/jupyter",
                       help="where every user's nbgrader and Jupyter server read machine-wide config")
    args = parser.parse_args(argv)
    try:
        make_exchange(args.root, args.course, args.instructor)
    except SetupRefused as exc:
        raise SystemExit(str(exc)) from None
    write_global_config(args.config_dir, args.root, args.course)


if __name__ == "__main__":
    main()
