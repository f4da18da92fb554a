"""``python -m labgrader.exchange setup``: the exchange of one course on one machine, as root.

    python -m labgrader.exchange setup --root /srv/nbgrader/exchange --course categorical-embeddings \\
        --instructor instructor [--config-dir /etc/jupyter]

Without ``--config-dir`` no machine-wide config is written. ``python -m labgrader setup`` does this
and makes the course folder too.
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
    setup.add_argument("--config-dir",
                       help="write the machine-wide nbgrader, Jupyter server and JupyterLab config here (e.g. "
                            "/etc/jupyter, which every user's nbgrader and server read); a file that differs is "
                            "kept as <name>.bak-<time> first. Without it, nothing machine-wide is written")
    args = parser.parse_args(argv)
    try:
        make_exchange(args.root, args.course, args.instructor)
    except SetupRefused as exc:
        raise SystemExit(str(exc)) from None
    if args.config_dir:
        write_global_config(args.config_dir, args.root, args.course)
    else:
        print("no machine-wide config written (no --config-dir)")


if __name__ == "__main__":
    main()
