"""The ``revoice`` command: run revoice on this machine, and look after a local or deployed stack.

Commands talk to the local stack (``revoice local``) by default, or to a deployed stack with
``--stack NAME``. Errors are one line on stderr (``--debug`` for the traceback). Exit codes:
0 success, 1 failure, 2 usage error, 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from revoice_local.emulator.config import EmulatorConfig, FaultRule
from revoice_local.emulator.server import DEFAULT_HOST, DEFAULT_PORT
from revoice_local.target import DEFAULT_STATE


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING, format="%(levelname)s %(message)s")
    try:
        return int(args.run(args))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if args.debug:
            raise
        print(f"revoice: {exc}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    common.add_argument("--stack", metavar="NAME", help="a deployed stack (default: the local stack)")
    common.add_argument(
        "--local-state",
        type=Path,
        default=DEFAULT_STATE,
        metavar="FILE",
        help=f"where `revoice local` records its endpoints (default {DEFAULT_STATE})",
    )
    common.add_argument("--json", action="store_true", help="machine-readable output")
    parser = argparse.ArgumentParser(
        prog="revoice", description=__doc__, parents=[common], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    emulator = commands.add_parser("emulator", parents=[common], help="serve the sync. labs API emulator")
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
    emulator.set_defaults(run=_emulator)

    demo = commands.add_parser("demo", parents=[common], help="run the flagship flow end to end on this machine")
    demo.add_argument("--out", type=Path, default=Path("demo-output"), help="where to write the results")
    demo.set_defaults(run=lambda a: __import__("revoice_local.demo", fromlist=["run_demo"]).run_demo(a.out))

    local = commands.add_parser("local", parents=[common], help="run the local stack until Ctrl-C")
    local.add_argument("--time-scale", type=float, default=0.1, help="the emulator's time scale (default 0.1)")
    local.set_defaults(run=_local)

    voices = commands.add_parser("voices", parents=[common], help="the voices revoice cloned")
    voice_commands = voices.add_subparsers(dest="voices_command", required=True, metavar="ACTION")
    voice_commands.add_parser("list", parents=[common], help="every voice, and what revoice knows of it").set_defaults(
        run=_voices_list
    )
    cleanup = voice_commands.add_parser("cleanup", parents=[common], help="delete stale revoice clones now")
    cleanup.add_argument("--dry-run", action="store_true", help="show what would be deleted; change nothing")
    cleanup.set_defaults(run=_voices_cleanup)
    return parser


def _target(args: argparse.Namespace) -> Any:
    from revoice_local.target import resolve

    return resolve(args.stack, args.local_state)


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


def _local(args: argparse.Namespace) -> int:
    from revoice_local.stack.stack import LocalStack

    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    with LocalStack(EmulatorConfig(time_scale=args.time_scale), parameters={"LogLevel": "WARNING"}) as stack:
        target = stack.target()
        target.save(args.local_state)
        try:
            summary = {
                "bucket": target.bucket,
                "api": target.api_url,
                "sync": target.sync_base_url,
                "aws": target.aws_endpoint,
                "state": str(args.local_state),
            }
            print(
                json.dumps(summary)
                if args.json
                else "\n".join(
                    ["revoice local stack is up (Ctrl-C stops it):"] + [f"  {k:<7} {v}" for k, v in summary.items()]
                ),
                flush=True,
            )
            while not stopping.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            args.local_state.unlink(missing_ok=True)
    return 0


def _voices_list(args: argparse.Namespace) -> int:
    from revoice_local.voices_cli import list_voices, table

    rows = list_voices(_target(args))
    print(json.dumps(rows, indent=2) if args.json else table(rows))
    return 0


def _voices_cleanup(args: argparse.Namespace) -> int:
    from revoice_local.voices_cli import cleanup_summary, run_cleanup

    report = run_cleanup(_target(args), dry_run=args.dry_run)
    print(json.dumps(report, indent=2) if args.json else cleanup_summary(report))
    return 1 if report.get("failed") else 0


if __name__ == "__main__":
    sys.exit(main())
