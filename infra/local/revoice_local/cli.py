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

from revoice.sync.models import MODELS, SYNC_MODES
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


def _options(before_the_command: bool) -> argparse.ArgumentParser:
    """The options every command takes, before or after its name. After it they carry no defaults, so a
    command that is not given one keeps what was given before it (argparse's defaults would override)."""

    def default(value: object) -> object:
        return value if before_the_command else argparse.SUPPRESS

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=default(False), help="show tracebacks and debug logs")
    common.add_argument(
        "--stack", metavar="NAME", default=default(None), help="a deployed stack (default: the local stack)"
    )
    common.add_argument(
        "--local-state",
        type=Path,
        default=default(DEFAULT_STATE),
        metavar="FILE",
        help=f"where `revoice local` records its endpoints (default {DEFAULT_STATE})",
    )
    common.add_argument("--json", action="store_true", default=default(False), help="machine-readable output")
    return common


def _parser() -> argparse.ArgumentParser:
    common = _options(before_the_command=False)
    parser = argparse.ArgumentParser(
        prog="revoice",
        description=__doc__,
        parents=[_options(before_the_command=True)],
        formatter_class=argparse.RawDescriptionHelpFormatter,
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
    demo.add_argument(
        "--serve",
        choices=["auto", "yes", "no"],
        default="auto",
        help="keep the stack up afterwards for the console's job page until Ctrl-C (auto: when run in a terminal)",
    )
    demo.set_defaults(run=_demo)

    local = commands.add_parser("local", parents=[common], help="run the local stack until Ctrl-C")
    local.add_argument("--time-scale", type=float, default=0.1, help="the emulator's time scale (default 0.1)")
    local.set_defaults(run=_local)

    submit = commands.add_parser("submit", parents=[common], help="start a job: upload, drop a manifest in inbox/")
    submit.add_argument("source", help="the talking-head video whose voice is cloned: a local file or a bucket key")
    submit.add_argument("--target", help="the video to lip-sync (default: the source): a local file or a bucket key")
    script = submit.add_mutually_exclusive_group(required=True)
    script.add_argument("--script", help="the new line to speak")
    script.add_argument("--script-file", type=Path, help="a UTF-8 text file holding the new line")
    submit.add_argument("--model", choices=MODELS)
    submit.add_argument("--sync-mode", choices=SYNC_MODES)
    submit.add_argument("--speech", choices=["tts", "text"], help="TTS then lip-sync (default), or text into generate")
    submit.add_argument("--voice", choices=["reuse", "fresh", "ephemeral"], help="how to get the voice")
    submit.add_argument("--voice-id", help="speak in this existing voice instead of cloning")
    submit.add_argument("--output-name", help="sync. labs output file name ([A-Za-z0-9_-])")
    submit.add_argument("--wait", action="store_true", help="follow the job, then download its results")
    submit.add_argument("--to", type=Path, help="where --wait puts the results (default ./revoice-results/JOB)")
    submit.set_defaults(run=_submit)

    status = commands.add_parser("status", parents=[common], help="a job's status, or recent jobs with --all")
    status.add_argument("job", nargs="?", help="the job id")
    status.add_argument("--all", action="store_true", help="recent jobs, newest first")
    status.add_argument("--wait", action="store_true", help="follow the job until it ends, then download its results")
    status.add_argument("--to", type=Path, help="where --wait puts the results (default ./revoice-results/JOB)")
    status.set_defaults(run=_status)

    results = commands.add_parser("results", parents=[common], help="download a job's results")
    results.add_argument("job", help="the job id")
    results.add_argument("--to", type=Path, help="the folder to download into")
    results.add_argument(
        "--links", action="store_true", help="print short-lived download links instead (shareable; no AWS needed)"
    )
    results.add_argument("--expires", type=int, default=3600, help="how long --links stay valid, in seconds")
    results.set_defaults(run=_results)

    campaign = commands.add_parser("campaign", parents=[common], help="one speaker, many lines: submit, follow")
    campaign_commands = campaign.add_subparsers(dest="campaign_command", required=True, metavar="ACTION")
    start = campaign_commands.add_parser("submit", parents=[common], help="drop a campaign file for a speaker")
    start.add_argument("source", help="the speaker's talking-head video: a local file or a bucket key")
    start.add_argument("lines", type=Path, help="the lines: a .csv with a header, or .jsonl (docs/campaigns.md)")
    start.add_argument("--max-cost", type=float, help="refuse the campaign if sync. labs estimates more (USD)")
    start.add_argument("--dry-run", action="store_true", help="check and estimate only; start nothing")
    start.add_argument("--wait", action="store_true", help="follow it with a progress bar until it ends")
    start.set_defaults(run=_campaign_submit)
    again = campaign_commands.add_parser("retry", parents=[common], help="run a campaign's failed lines again")
    again.add_argument("campaign", help="the campaign id")
    again.add_argument("--wait", action="store_true", help="follow it with a progress bar until it ends")
    again.set_defaults(run=_campaign_retry)
    follow = campaign_commands.add_parser("status", parents=[common], help="how far a campaign is")
    follow.add_argument("campaign", help="the campaign id (what submit printed)")
    follow.add_argument("--wait", action="store_true", help="follow it with a progress bar until it ends")
    follow.set_defaults(run=_campaign_status)

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


def _demo(args: argparse.Namespace) -> int:
    from revoice_local.demo import run_demo

    serve = args.serve == "yes" or (args.serve == "auto" and sys.stdin.isatty() and sys.stdout.isatty())
    return run_demo(args.out, serve=serve)


def _local(args: argparse.Namespace) -> int:
    from revoice_local.stack.stack import LocalStack

    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    stack = LocalStack(
        EmulatorConfig(time_scale=args.time_scale),
        parameters={"LogLevel": "WARNING"},
        function_log_level=logging.DEBUG if args.debug else logging.WARNING,
    )
    with stack:
        target = stack.target()
        target.save(args.local_state)
        try:
            summary = {
                "bucket": target.bucket,
                "api": target.api_url,
                "console": stack.console_url(),
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


def _submit(args: argparse.Namespace) -> int:
    from revoice_local.jobs_cli import accepted_job_id, submit

    target = _target(args)
    script = args.script if args.script is not None else args.script_file.read_text(encoding="utf-8")
    fields = {
        "target": args.target,
        "script": script,
        "model": args.model,
        "sync_mode": args.sync_mode,
        "speech": args.speech,
        "voice": args.voice,
        "voice_id": args.voice_id,
        "output_name": args.output_name,
    }
    submitted = submit(target, args.source, {k: v for k, v in fields.items() if v is not None})
    if not args.wait:
        job_id = accepted_job_id(target, submitted.job_ids)
        if args.json:
            print(json.dumps({"jobId": job_id, "manifest": submitted.manifest_key}))
        else:
            print(
                f"Submitted s3://{target.bucket}/{submitted.manifest_key}\njob {job_id}\n"
                f"Follow it with: revoice status {job_id} --wait"
            )
        return 0
    print(f"Submitted s3://{target.bucket}/{submitted.manifest_key}", flush=True)
    return _follow_and_fetch(args, target, submitted.job_ids)


def _follow_and_fetch(args: argparse.Namespace, target: Any, job_ids: tuple[str, ...]) -> int:
    from revoice_local.jobs_cli import download_results, error_document, follow, job_record

    try:
        record = follow(target, job_ids, lambda line: print(line, flush=True))
    except KeyboardInterrupt:
        known = job_record(target, job_ids)
        job_id = str(known["jobId"]) if known else job_ids[-1]
        print(
            f"\nStopped following; the job keeps running. Follow it again with: revoice status {job_id} --wait",
            file=sys.stderr,
        )
        return 130
    job_id = str(record["jobId"])
    if record["status"] != "SUCCEEDED":
        error = error_document(target, job_id) or record
        print(
            f"Job {job_id} {record['status'].lower()} at {error.get('step')}: {error.get('errorCode')}: "
            f"{error.get('reason')}",
            file=sys.stderr,
        )
        return 1
    paths = download_results(target, job_id, getattr(args, "to", None) or Path("revoice-results") / job_id)
    print(f"Job {job_id} succeeded:")
    for path in paths:
        print(f"  {path}")
    return 0


def _campaign_submit(args: argparse.Namespace) -> int:
    from revoice_local.campaign_cli import submit_campaign

    target = _target(args)
    campaign_id = submit_campaign(target, args.source, args.lines, max_cost=args.max_cost, dry_run=args.dry_run)
    print(json.dumps({"campaignId": campaign_id}) if args.json else f"Campaign {campaign_id}", flush=True)
    return _campaign_follow(target, campaign_id) if args.wait else 0


def _campaign_retry(args: argparse.Namespace) -> int:
    from revoice_local.campaign_cli import retry_campaign

    target = _target(args)
    campaign_id = retry_campaign(target, args.campaign)
    print(json.dumps({"campaignId": campaign_id}) if args.json else f"Campaign {campaign_id} runs again", flush=True)
    return _campaign_follow(target, campaign_id) if args.wait else 0


def _campaign_status(args: argparse.Namespace) -> int:
    from revoice_local.campaign_cli import bar, campaign_status

    target = _target(args)
    if args.wait:
        return _campaign_follow(target, args.campaign)
    status = campaign_status(target, args.campaign)
    print(json.dumps(status, default=str) if args.json else f"{status['status']}  {bar(status, 0)}")
    return 0


def _campaign_follow(target: Any, campaign_id: str) -> int:
    from revoice_local.campaign_cli import follow_campaign

    status = follow_campaign(target, campaign_id, lambda line: print(line, flush=True))
    print(f"Campaign {campaign_id} {status['status']}: s3://{target.bucket}/{status['report']}")
    return 0 if status["status"] == "SUCCEEDED" else 1


def _status(args: argparse.Namespace) -> int:
    from revoice_local.jobs_cli import JobNotFound, job_record, recent, status_table

    target = _target(args)
    if args.all:
        rows = recent(target)
        print(json.dumps(rows, indent=2, default=str) if args.json else status_table(rows))
        return 0
    if not args.job:
        raise ValueError("name a job, or pass --all")
    if args.wait:
        return _follow_and_fetch(args, target, (args.job,))
    record = job_record(target, (args.job,))
    if record is None:
        raise JobNotFound(f"no job {args.job} (see `revoice status --all`)")
    print(json.dumps(record, indent=2, default=str) if args.json else status_table([record]))
    return 0


def _results(args: argparse.Namespace) -> int:
    from revoice_local.jobs_cli import download_results, result_links

    if args.links:
        if not 1 <= args.expires <= 7 * 24 * 3600:
            raise SystemExit("revoice results: --expires must be 1 to 604800 seconds (S3's limit)")
        for name, url in result_links(_target(args), args.job, args.expires).items():
            print(f"{name}\t{url}")
        return 0
    if args.to is None:
        raise SystemExit("revoice results: give --to FOLDER to download, or --links for download links")
    for path in download_results(_target(args), args.job, args.to):
        print(path)
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
