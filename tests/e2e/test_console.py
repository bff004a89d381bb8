"""The web console in a real browser (Debian's Chromium, driven by Playwright) against the local stack:
sign in, upload a video straight to the bucket, start the job, follow it, play the source, the result and
the speech side by side, and see failures explained with what to do."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from revoice.pipeline.advice import ADVICE
from revoice_local.stack.stack import LocalStack

SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"
JOB_SECONDS = 90_000  # ms: a job on the local stack takes a few seconds; a loaded CI machine, more


def chromium() -> str:
    """The browser `make browser` installs (Debian's chromium), or the one REVOICE_CHROMIUM names."""
    found = os.environ.get("REVOICE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.fail("no Chromium: run `make browser` (Debian's chromium) or set REVOICE_CHROMIUM to a Chrome")
    return found


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium(),
            args=["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    problems: list[str] = []
    opened.on("pageerror", lambda error: problems.append(f"page error: {error}"))

    def heard(message: Any) -> None:
        answered = message.text.startswith("Failed to load resource: the server responded with a status of 4")
        if message.type == "error" and not answered:  # a 4xx is an answer the page shows; anything else is not
            problems.append(f"console {message.type}: {message.text}")

    opened.on("console", heard)
    yield opened
    context.close()
    assert problems == []  # no script error, no refused request (CSP, CORS) along the way


def _open_console(page: Any, stack: LocalStack) -> None:
    page.goto(f"{stack.api.url}/console#token={stack.api_token}")
    page.get_by_role("heading", name="New job").wait_for()
    assert "token" not in page.url  # the token left the address bar (and the history) at once


def _start(page: Any, video: Path, script: str, voice_id: str | None = None) -> None:
    page.get_by_label("Talking-head video").set_input_files(str(video))
    page.get_by_label("Script").fill(script)
    if voice_id is not None:
        page.get_by_label("Voice", exact=True).select_option("id")
        page.get_by_label("Voice id").fill(voice_id)
    page.get_by_role("button", name="Upload and start").click()


def _media_plays(page: Any, selector: str) -> dict[str, float]:
    """Load ``selector``'s media, play it muted for a moment: its duration and how far it got."""
    return page.eval_on_selector(  # type: ignore[no-any-return]
        selector,
        """async (el) => {
            el.muted = true;
            if (el.readyState < 1) await new Promise((ok, no) => {
                el.onloadedmetadata = ok;
                el.onerror = () => no(new Error("cannot load " + el.src));
            });
            await el.play();
            await new Promise((ok) => {
                const tick = () => el.currentTime > 0.2 ? ok() : requestAnimationFrame(tick);
                tick();
            });
            el.pause();
            return { duration: el.duration, played: el.currentTime };
        }""",
    )


def test_a_video_uploaded_in_the_console_becomes_a_result_that_plays_beside_its_source(
    page: Any, stack: LocalStack, videos: dict[str, Path]
) -> None:
    stack.emulator.emulator.config.processing_seconds = 100  # a 5 s generation, long enough to watch
    _open_console(page, stack)
    _start(page, videos["speaker"], "Hello from the console. This is the new line.")
    page.wait_for_url("**/console#/jobs/*")
    job_id = page.url.rsplit("/", 1)[-1]
    page.locator("#steps li.current[aria-current=step]", has_text="lip-syncing the video").wait_for(timeout=JOB_SECONDS)
    page.locator("#job-sync", has_text="sync. labs: generation").wait_for()
    assert "so far" in page.locator("#job-elapsed").inner_text()
    page.locator("video[aria-label='the source video']").wait_for()  # the source plays while the job runs
    status = page.locator("#job-status")
    status.filter(has_text="SUCCEEDED").wait_for(timeout=JOB_SECONDS)

    record = stack.job(job_id) or {}
    assert str(record["source"]).startswith("uploads/")  # the browser's upload, straight into the bucket
    steps = page.locator("#steps li")
    assert steps.count() == 7
    assert all(c == "done" for c in steps.evaluate_all("items => items.map(i => i.className)"))
    for caption in ("Source", "Result", "Speech track"):
        page.get_by_role("figure", name=caption).wait_for()
    result = _media_plays(page, "video[aria-label^='the re-voiced']")
    source = _media_plays(page, "video[aria-label='the source video']")
    speech = _media_plays(page, "audio")
    assert result["duration"] > 1
    assert min(result["played"], source["played"], speech["played"]) > 0.2
    assert abs(result["duration"] - speech["duration"]) < 0.5  # the result says the speech
    facts = page.locator("#job-facts").inner_text()
    assert "lipsync-2" in facts
    assert "Output length" in facts
    assert page.get_by_role("link", name="video").get_attribute("href").startswith("http")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "console-job.png"), full_page=True)

    page.get_by_role("link", name="Recent jobs").click()
    row = page.locator("#recent-rows tr", has=page.get_by_role("link", name=job_id))
    row.wait_for()
    assert "SUCCEEDED" in row.inner_text()


def test_a_job_that_fails_says_why_and_what_to_do_on_its_page(
    page: Any, stack: LocalStack, videos: dict[str, Path]
) -> None:
    _open_console(page, stack)
    _start(page, videos["speaker"], "This voice does not exist.", voice_id="no-such-voice")
    page.locator("#job-status").filter(has_text="FAILED").wait_for(timeout=JOB_SECONDS)
    alert = page.get_by_role("alert").filter(has_text="Failed while")
    text = alert.inner_text()
    assert "voice_not_found" in text
    assert ADVICE["voice_not_found"].replace("`", "") in text.replace("`", "")
    assert page.locator("#steps li.failed").inner_text() == "choosing or cloning the voice"
    page.screenshot(path=str(SCREENSHOTS / "console-failed.png"), full_page=True)


def test_a_file_that_is_not_a_video_is_refused_in_the_form_with_what_to_do(
    page: Any, stack: LocalStack, tmp_path: Path
) -> None:
    fake = tmp_path / "holiday.mp4"
    fake.write_bytes(b"these bytes are not a video at all" * 100)
    _open_console(page, stack)
    _start(page, fake, "Say this.")
    alert = page.locator("#form-error")
    alert.wait_for(timeout=JOB_SECONDS)
    assert "not_a_video" in alert.inner_text()
    assert ADVICE["not_a_video"] in alert.inner_text()
    assert page.url.endswith("#/")  # no job page: nothing started


def test_the_console_can_be_used_from_the_keyboard_alone(page: Any, stack: LocalStack) -> None:
    page.goto(f"{stack.api.url}/console")
    token = page.get_by_label("API token")
    token.wait_for()
    assert page.evaluate("document.activeElement.id") == "token"  # the sign-in field has the focus
    page.keyboard.type(stack.api_token)
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="New job").wait_for()
    reached = []
    for _ in range(30):
        page.keyboard.press("Tab")
        reached.append(page.evaluate("document.activeElement.id || document.activeElement.textContent"))
        if reached[-1] == "start":
            break
    assert [f for f in ("video", "script", "target", "model", "sync-mode", "voice", "start") if f not in reached] == []


def test_a_wrong_token_sends_the_console_back_to_sign_in(page: Any, stack: LocalStack) -> None:
    page.goto(f"{stack.api.url}/console#token=not-the-token")
    page.get_by_label("API token").wait_for()  # the API answered 403; the page asked again


def test_a_campaigns_page_counts_its_lines_and_links_its_report(page: Any, stack: LocalStack, jobs: Any) -> None:
    from tests.e2e.test_campaigns import _drop_campaign, _lines, _summary

    source = jobs.put_video("speaker")
    campaign_id = _drop_campaign(jobs, "console.csv", _lines(2), source=source)
    assert _summary(stack, campaign_id)["status"] == "SUCCEEDED"
    page.goto(f"{stack.console_url(campaign_id)}")
    page.get_by_text("Campaign of 2 lines: 2 done, 0 failed").wait_for(timeout=JOB_SECONDS)
    assert page.get_by_role("link", name="report.csv").get_attribute("href").startswith("http")
    page.get_by_role("link", name="Recent jobs").click()
    page.locator("#recent-rows tr", has=page.get_by_role("link", name=campaign_id)).wait_for()
