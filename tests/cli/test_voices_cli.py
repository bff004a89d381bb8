"""``revoice local`` and ``revoice voices`` as a user runs them: real processes, real output, exit codes."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.cli.conftest import REVOICE, USER_ENV, revoice


def test_voices_list_shows_built_ins_and_says_whose_they_are(local_stack: Path) -> None:
    done = revoice("voices", "list", state=local_stack)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].split() == ["ID", "NAME", "KIND", "HELD", "BY", "IDLE", "(h)"]
    assert "builtin-rachel" in done.stdout
    rows = json.loads(revoice("voices", "list", "--json", state=local_stack).stdout)
    kinds = {row["kind"].split(";")[0] for row in rows}
    other = "not revoice's (built-in or another tool's)"  # the API does not say which voices are built in
    assert {row["kind"] for row in rows if row["id"] == "builtin-rachel"} == {other}
    assert kinds <= {other, "revoice", "revoice (ephemeral)", "revoice (unrecorded)"}


def test_voices_cleanup_dry_run_reports_and_changes_nothing(local_stack: Path) -> None:
    done = revoice("voices", "cleanup", "--dry-run", state=local_stack)
    assert done.returncode == 0, done.stderr
    assert "dry run: nothing was changed" in done.stdout
    report = json.loads(revoice("voices", "cleanup", "--dry-run", "--json", state=local_stack).stdout)
    assert report["dry_run"] is True
    assert report["counts"]["deleted"] == 0


def test_without_a_local_stack_the_error_says_what_to_do(tmp_path: Path) -> None:
    done = revoice("voices", "list", state=tmp_path / "none.json")
    assert done.returncode == 1
    assert done.stderr.startswith("revoice: no local stack is running")
    assert "revoice local" in done.stderr
    assert "Traceback" not in done.stderr


def test_stack_reads_a_deployed_stacks_outputs(local_stack: Path) -> None:
    """A CloudFormation stack (in the local moto) whose outputs name the local resources stands in for AWS."""

    from revoice_local.target import local

    here = local(local_stack)
    outputs = {
        "JobsBucketName": here.bucket,
        "JobsTableName": here.jobs_table,
        "VoicesTableName": here.voices_table,
        "StateMachineArn": here.state_machine_arn,
        "CleanupFunctionName": here.cleanup_function,
        "ApiUrl": here.api_url,
        "SyncBaseUrl": here.sync_base_url,
    }
    secrets = here.client("secretsmanager")
    outputs["SyncApiKeySecretArn"] = secrets.create_secret(Name="deployed-key", SecretString=str(here.sync_api_key))[
        "ARN"
    ]
    template = {
        "Resources": {"Handle": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
        "Outputs": {k: {"Value": v} for k, v in outputs.items()},
    }
    cloudformation = here.client("cloudformation")
    cloudformation.create_stack(StackName="my-revoice", TemplateBody=json.dumps(template))
    env = {
        "AWS_ENDPOINT_URL": str(here.aws_endpoint),
        "AWS_ACCESS_KEY_ID": str(here.aws_access_key_id),
        "AWS_SECRET_ACCESS_KEY": str(here.aws_secret_access_key),
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    done = subprocess.run(
        [*REVOICE, "voices", "list", "--json", "--stack", "my-revoice"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**USER_ENV, **env},
    )
    assert done.returncode == 0, done.stderr
    assert "builtin-rachel" in {row["id"] for row in json.loads(done.stdout)}
    missing = subprocess.run(
        [*REVOICE, "voices", "list", "--stack", "no-such-stack"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**USER_ENV, **env},
    )
    assert missing.returncode == 1
    assert missing.stderr.startswith("revoice: cannot read stack no-such-stack")
