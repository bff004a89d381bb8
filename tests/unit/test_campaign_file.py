"""Reading a campaign file: every format, every line checked, every problem reported by line number."""

from __future__ import annotations

import json

import pytest

from revoice.pipeline.campaign import CampaignInvalid, line_job_id, read_campaign, split_line_job_id
from revoice.pipeline.errors import JobInputError

SOURCE = {"source": "media/speaker.mp4"}


def test_a_csv_campaign_gives_one_job_manifest_per_line_with_the_campaigns_source() -> None:
    raw = b"script,output_name,sync_mode\nHello Ada.,ada,bounce\nHello Bob.,bob,cut_off\nHello Cy.,,\n"
    campaign = read_campaign(raw, "csv", SOURCE)
    assert [line.name for line in campaign.lines] == ["ada", "bob", "line-00004"]
    assert [line.number for line in campaign.lines] == [2, 3, 4]
    assert campaign.lines[1].manifest.sync_mode == "cut_off"
    assert {line.manifest.source for line in campaign.lines} == {"media/speaker.mp4"}
    assert campaign.source == "media/speaker.mp4"


def test_json_lines_and_a_json_manifest_read_the_same_lines() -> None:
    lines = [{"script": "One.", "output_name": "one"}, {"script": "Two.", "stability": 0.4}]
    jsonl = "\n".join(json.dumps(line) for line in lines).encode()
    manifest = json.dumps({**SOURCE, "max_cost": 12.5, "lines": lines}).encode()
    from_jsonl, from_json = read_campaign(jsonl, "jsonl", SOURCE), read_campaign(manifest, "json", {})
    assert [line.manifest for line in from_jsonl.lines] == [line.manifest for line in from_json.lines]
    assert from_json.settings.max_cost == 12.5
    assert from_jsonl.lines[1].manifest.stability == 0.4


def test_every_problem_of_a_bad_file_is_listed_by_line_and_nothing_else_is_read() -> None:
    raw = (
        b"script,output_name,model,stability\n"
        b"Fine.,fine,lipsync-2,0.5\n"
        b",empty,,\n"  # line 3: no script
        b"Bad model.,bad-model,lipsync-99,\n"  # line 4
        b"Shaky.,shaky,,2\n"  # line 5: stability out of range
        b"Again.,fine,,\n"  # line 6: the name of line 2
        b"Name.,Not A Name,,\n"  # line 7
    )
    with pytest.raises(CampaignInvalid) as raised:
        read_campaign(raw, "csv", SOURCE)
    by_line = {(p["line"], p["field"]) for p in raised.value.problems}
    assert by_line == {(3, "script"), (4, "model"), (5, "stability"), (6, "output_name"), (7, "output_name")}
    assert raised.value.code == "invalid_campaign"
    assert "nothing was started" in raised.value.reason


@pytest.mark.parametrize(
    ("raw", "kind", "message"),
    [
        (b"", "csv", "no header"),
        (b"script,voice_id\nHi.,v1\n", "csv", "unknown column"),
        (b"not json", "json", "not valid JSON"),
        (b'{"source": "media/a.mp4"}', "json", "'lines' list"),
        (b"\xff\xfe", "csv", "not UTF-8"),
    ],
)
def test_a_file_that_is_not_a_campaign_says_why(raw: bytes, kind: str, message: str) -> None:
    with pytest.raises(JobInputError) as raised:
        read_campaign(raw, kind, SOURCE)
    assert message in raised.value.reason


def test_a_campaign_needs_lines_a_source_and_one_speaker() -> None:
    with pytest.raises(CampaignInvalid) as empty:
        read_campaign(b"script\n", "csv", SOURCE)
    assert empty.value.problems == [{"line": 0, "field": "lines", "problem": "the campaign has no lines"}]
    with pytest.raises(CampaignInvalid) as two:
        read_campaign(b"script,source\nA.,media/a.mp4\nB.,media/b.mp4\n", "csv", {})
    assert "one speaker per campaign" in two.value.problems[0]["problem"]
    with pytest.raises(CampaignInvalid) as unparsable:
        read_campaign(b'{"script": "fine"}\n[1, 2]\nnot json\n', "jsonl", SOURCE)
    assert [p["line"] for p in unparsable.value.problems] == [2, 3]


def test_a_lines_job_id_names_its_campaign_and_line_and_no_other_job_id_looks_like_one() -> None:
    from revoice.pipeline.job_id import is_job_id, job_id_for

    campaign_id = job_id_for("bucket", "inbox/spring -- offers.csv", "etag")
    assert "--" not in campaign_id
    line = line_job_id(campaign_id, "ada")
    assert split_line_job_id(line) == (campaign_id, "ada")
    assert split_line_job_id(campaign_id) is None
    assert is_job_id(line)
    assert len(line) <= 80  # a Step Functions execution name


def test_a_campaign_names_at_most_a_hundred_distinct_videos() -> None:
    from revoice.pipeline.campaign import MAX_TARGETS

    rows = "".join(f"Line {i}.,media/t{i}.mp4\n" for i in range(MAX_TARGETS + 1))
    with pytest.raises(CampaignInvalid) as raised:
        read_campaign(f"script,target\n{rows}".encode(), "csv", SOURCE)
    assert [p["field"] for p in raised.value.problems] == ["target"]
    assert f"a campaign takes {MAX_TARGETS}" in raised.value.problems[0]["problem"]
