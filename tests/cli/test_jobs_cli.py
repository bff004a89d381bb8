"""``revoice submit``, ``status`` and ``results`` against ``revoice local``, in subprocesses."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from revoice_local import media
from tests.cli.conftest import revoice


@pytest.fixture(scope="module")
def speaker(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "speaker.mp4"
    media.make_talking_head(path, "I am the speaker; these sentences give the cloner enough to work with.")
    return path


def test_submit_wait_follows_the_job_and_leaves_the_result_on_disk(
    local_stack: Path, speaker: Path, tmp_path: Path
) -> None:
    done = revoice(
        "submit",
        str(speaker),
        "--script",
        "Hello from the command line!",
        "--sync-mode",
        "loop",
        "--wait",
        "--to",
        str(tmp_path / "out"),
        state=local_stack,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("Submitted s3://")
    assert any("lip-syncing" in line for line in lines)
    assert "succeeded" in done.stdout
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["output.mp4", "result.json", "speech.wav"]
    info = media.probe(tmp_path / "out" / "output.mp4", ".mp4")
    assert info is not None
    assert info.has_video
    result = json.loads((tmp_path / "out" / "result.json").read_text())
    assert result["inputs"]["syncMode"] == "loop"

    listed = revoice("status", "--all", "--json", state=local_stack)
    assert listed.returncode == 0
    assert result["jobId"] in [row["jobId"] for row in json.loads(listed.stdout)]
    one = revoice("status", result["jobId"], state=local_stack)
    assert one.returncode == 0
    assert "SUCCEEDED" in one.stdout
    again = revoice("results", result["jobId"], "--to", str(tmp_path / "again"), state=local_stack)
    assert again.returncode == 0
    assert len(again.stdout.splitlines()) == 3
    shared = revoice("results", result["jobId"], "--links", "--expires", "600", state=local_stack)
    assert shared.returncode == 0, shared.stderr
    links = dict(line.split("\t") for line in shared.stdout.splitlines())
    assert sorted(links) == names
    for name, url in links.items():
        assert "X-Amz-Expires=600" in url
        assert httpx.get(url).content == (tmp_path / "out" / name).read_bytes()  # anyone with the link


def test_submit_without_wait_prints_the_job_and_how_to_follow_it(local_stack: Path, speaker: Path) -> None:
    done = revoice("submit", str(speaker), "--script", "No waiting.", "--json", state=local_stack)
    assert done.returncode == 0, done.stderr
    job_id = json.loads(done.stdout)["jobId"]
    follow = revoice("status", job_id, "--wait", "--to", "/tmp/revoice-cli-follow", state=local_stack)
    assert follow.returncode == 0, follow.stderr


def test_a_job_that_fails_is_reported_in_one_line_with_exit_code_1(local_stack: Path, speaker: Path) -> None:
    done = revoice(
        "submit", str(speaker), "--script", "Wrong voice.", "--voice-id", "no-such-voice", "--wait", state=local_stack
    )
    assert done.returncode == 1
    assert "voice_not_found" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["submit", "media/missing.mp4", "--script", "x"], "neither a local file nor a key"),
        (["submit", "README.md", "--script", "x"], "is not a video"),
        (["status", "nope-0123456789abcdef"], "no job nope-0123456789abcdef"),
        (["results", "nope-0123456789abcdef", "--to", "/tmp/x"], "no results for job"),
    ],
)
def test_mistakes_get_one_clear_line_and_exit_code_1(local_stack: Path, args: list[str], message: str) -> None:
    done = revoice(*args, state=local_stack, cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 1
    assert done.stderr.startswith("revoice: ")
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_bad_usage_exits_2_and_every_command_has_help(local_stack: Path) -> None:
    assert revoice("submit", "x.mp4", state=local_stack).returncode == 2  # no --script
    for command in (
        ["submit"],
        ["status"],
        ["results"],
        ["voices", "list"],
        ["voices", "cleanup"],
        ["local"],
        ["emulator"],
        ["demo"],
        ["campaign", "submit"],
        ["campaign", "status"],
    ):
        shown = revoice(*command, "--help", state=local_stack)
        assert shown.returncode == 0
        assert "usage: revoice" in shown.stdout


def test_ctrl_c_while_following_leaves_the_job_running_and_says_how_to_follow_it(
    local_stack: Path, speaker: Path
) -> None:
    import signal
    import subprocess

    from tests.cli.conftest import REVOICE, USER_ENV

    process = subprocess.Popen(
        [*REVOICE, "submit", str(speaker), "--script", "Interrupted.", "--wait", "--local-state", str(local_stack)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=USER_ENV,
    )
    assert process.stdout is not None
    assert process.stdout.readline().startswith("Submitted")
    assert process.stdout.readline().strip()  # it is following the job: its first step line came
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 130
    assert "the job keeps running" in err
    job_id = err.split("revoice status ")[1].split()[0]
    assert revoice("status", job_id, "--wait", "--to", "/tmp/revoice-after-ctrl-c", state=local_stack).returncode == 0


def test_the_demo_runs_the_flagship_flow_and_serves_its_job_in_the_console_until_ctrl_c(tmp_path: Path) -> None:
    """What ``make demo`` runs, in one process: the flow, its summary and files, then the console's page."""
    import signal
    import subprocess
    from urllib.parse import parse_qs, urlsplit

    from tests.cli.conftest import REVOICE, USER_ENV

    errors = tmp_path / "stderr.txt"
    demo = subprocess.Popen(
        [*REVOICE, "demo", "--out", str(tmp_path / "out"), "--serve", "yes"],
        stdout=subprocess.PIPE,
        stderr=errors.open("w"),
        text=True,
        env=USER_ENV,
    )
    try:
        assert demo.stdout is not None
        lines = []
        for line in demo.stdout:
            lines.append(line)
            if "/console#token=" in line:
                break
        assert lines, "the demo printed nothing"
        assert "/console#token=" in lines[-1], "".join(lines)  # it got to the end of the flow
        assert any(line.startswith("Done in") for line in lines), "".join(lines)
        assert {"output.mp4", "speech.wav", "result.json"} <= {p.name for p in (tmp_path / "out").iterdir()}
        address = urlsplit(lines[-1].strip())
        fragment = parse_qs(address.fragment)
        base = f"{address.scheme}://{address.netloc}"
        assert httpx.get(f"{base}/console").status_code == 200
        job = httpx.get(
            f"{base}/jobs/{fragment['job'][0]}", headers={"authorization": f"Bearer {fragment['token'][0]}"}
        )
        assert job.json()["status"] == "SUCCEEDED"
        video = httpx.get(job.json()["links"]["video"])
        assert video.content == (tmp_path / "out" / "output.mp4").read_bytes()  # the page plays what it wrote
        demo.send_signal(signal.SIGINT)
        assert demo.wait(timeout=60) == 0
    finally:
        demo.kill()
    warnings = [line for line in errors.read_text().splitlines() if line.startswith(("WARNING", "Traceback"))]
    assert warnings == []  # a user's first run says what happened, not what the plumbing thought of it


def test_campaign_submit_wait_shows_a_progress_bar_and_ends_on_its_report(
    local_stack: Path, speaker: Path, tmp_path: Path
) -> None:
    lines = tmp_path / "greetings.csv"
    lines.write_text("script,output_name\n" + "".join(f"Hello number {i}.,n{i}\n" for i in range(4)))
    done = revoice("campaign", "submit", str(speaker), str(lines), "--wait", state=local_stack)
    assert done.returncode == 0, done.stderr
    assert "4/4 done (0 failed)" in done.stdout
    assert "[" + "#" * 30 + "]" in done.stdout
    assert "SUCCEEDED: s3://" in done.stdout
    campaign_id = done.stdout.split()[1]
    status = revoice("campaign", "status", campaign_id, "--json", state=local_stack)
    assert json.loads(status.stdout)["succeeded"] == 4
    again = revoice("campaign", "retry", campaign_id, "--wait", state=local_stack)  # nothing failed: none re-run
    assert again.returncode == 0, again.stderr
    assert f"Campaign {campaign_id} runs again" in again.stdout
    assert f"Campaign {campaign_id} SUCCEEDED" in again.stdout
    unknown = revoice("campaign", "retry", "no-such-campaign", state=local_stack)
    assert unknown.returncode == 1
    assert "no campaign no-such-campaign" in unknown.stderr


def test_a_bad_campaign_file_is_refused_before_anything_is_uploaded(
    local_stack: Path, speaker: Path, tmp_path: Path
) -> None:
    lines = tmp_path / "broken.csv"
    lines.write_text("script,colour\nHi.,red\n")
    done = revoice("campaign", "submit", str(speaker), str(lines), state=local_stack)
    assert done.returncode == 1
    assert "unknown column(s) ['colour']" in done.stderr
