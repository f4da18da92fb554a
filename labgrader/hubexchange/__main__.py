"""``python -m labgrader.hubexchange``: the exchange service (``serve``), or what it refused (``refusals``)."""
import argparse
import json
from pathlib import Path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m labgrader.hubexchange", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the exchange service (as a JupyterHub service)")
    serve.add_argument("--course", type=Path, default=Path.cwd(), help="the course root (its nbgrader_config.py)")
    serve.add_argument("--ip", help="address to listen on (default: from JUPYTERHUB_SERVICE_URL)")
    serve.add_argument("--port", type=int, help="port (default: from JUPYTERHUB_SERVICE_URL)")
    refused = commands.add_parser("refusals", help="print what the service refused, newest first (as the service's user)")
    refused.add_argument("--course", type=Path, default=Path.cwd())
    refused.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.command == "serve":
        from .service import main as serve_main
        serve_main(args.course, args.ip, args.port)
    else:
        from .service import course_settings
        from .store import Store
        root = str(args.course.resolve())
        _, settings = course_settings(root, wait_seconds=0.0)
        rows = Store(settings.store or str(Path(root) / ".labgrader" / "exchange")).refusals()
        if args.json:
            print(json.dumps(rows, indent=1))
        for row in [] if args.json else rows:
            print(f"{row['at']}  {row['status']}  {row['who']}  {row['action']} {row['assignment']}: {row['reason']}")


if __name__ == "__main__":
    main()
