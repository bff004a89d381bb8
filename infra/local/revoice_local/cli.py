"""The ``revoice`` command: run the sync. labs emulator, or the flagship flow on this machine."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from revoice_local.emulator.config import EmulatorConfig, FaultRule
from revoice_local.emulator.server import DEFAULT_HOST, DEFAULT_PORT


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="revoice", description=__doc__)
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    commands = parser.add_subparsers(dest="command", required=True)

    emulator = commands.add_parser("emulator", help="serve the sync. labs API emulator on loopback")
    emulator.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST})")
    emulator.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    emulator.add_argument("--api-key", help="the API key clients must send (default sk-local-emulator)")
    emulator.add_argument("--config", type=Path, help="a JSON or YAML file of EmulatorConfig fields")
    emulator.add_argument("--plan", choices=["free", "hobbyist", "creator", "growth", "scale"])
    emulator.add_argument("--time-scale", type=float, help="multiply every duration (0.1 = ten times faster)")
    emulator.add_argument("--tts-shape", choices=["sync", "seed"], help="what POST /v2/tts answers")
    emulator.add_argument("--no-tts-jobs", action="store_true", help="answer 503 on /v2/tts/jobs")
    emulator.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="KIND@TARGET[ xN][:k=v,...]",
        help="inject a fault, e.g. 'rate_limit@POST /v2/generate x2' or 'webhook_lost@webhook'",
    )

    demo = commands.add_parser("demo", help="run the flagship flow end to end on this machine")
    demo.add_argument("--out", type=Path, default=Path("demo-output"), help="where to write the results")

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING, format="%(levelname)s %(message)s")
    try:
        if args.command == "emulator":
            return _emulator(args)
        from revoice_local.demo import run_demo

        return run_demo(args.out)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if args.debug:
            raise
        print(f"revoice: {exc}", file=sys.stderr)
        return 1


def _emulator(args: argparse.Namespace) -> int:
    from revoice_local.emulator.server import EmulatorServer

    overrides = {
        "api_key": args.api_key,
        "plan": args.plan,
        "time_scale": args.time_scale,
        "tts_shape": args.tts_shape,
        "tts_jobs_enabled": False if args.no_tts_jobs else None,
    }
    if args.config:
        config = EmulatorConfig.from_file(args.config, **overrides)
    else:
        config = EmulatorConfig.model_validate({k: v for k, v in overrides.items() if v is not None})
    if args.fault:
        config = config.model_copy(update={"faults": config.faults + [FaultRule.parse(f) for f in args.fault]})
    server = EmulatorServer(config, host=args.host, port=args.port)
    print(
        json.dumps(
            {
                "url": server.url,
                "apiKey": "***",
                "plan": config.plan,
                "timeScale": config.time_scale,
                "faults": len(config.faults),
            }
        )
    )
    print(f"sync. labs emulator on {server.url} (API key from --api-key or the default; Ctrl-C stops)", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
