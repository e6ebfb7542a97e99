"""Start the topoact Dash app on a run directory: ``python app.py RUN_DIR [--host H] [--port P]``."""
from __future__ import annotations

import argparse
import logging


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and serve the app (see ``--help``)."""
    parser = argparse.ArgumentParser(description="Explore a topoact run directory in the browser.")
    parser.add_argument("run_dir", help="run directory written by `topoact collect`")
    parser.add_argument("--host", default="127.0.0.1",
                        help="interface to bind (default 127.0.0.1; 0.0.0.0 exposes the app to the network)")
    parser.add_argument("--port", type=int, default=8050, help="port (default 8050)")
    parser.add_argument("--debug", action="store_true", help="Dash debug mode (reloader, error overlay)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from topoact.app import serve

    serve(args.run_dir, host=args.host, port=args.port, debug=args.debug)


if __name__ == "__main__":
    main()
