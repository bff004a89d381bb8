"""The template keeps the promises the design makes (private data, least privilege, dead letters, alarms),
and the local stack is derived from it (not from a copy)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from revoice_local.stack.template import INFRA, load_template, plan

ASL = json.loads((INFRA / "statemachine" / "revoice.asl.json").read_text())
STATES: dict[str, dict[str, Any]] = ASL["States"]


def test_the_local_plan_is_the_templates_resources() -> None:
    template = load_template()
    local = plan({"SyncApiKey": "k", "ApiToken": "t" * 16})
    kinds = {lid: r["Type"] for lid, r in template["Resources"].items()}
    assert set(local.functions) == {lid for lid, k in kinds.items() if k == "AWS::Serverless::Function"}
    assert set(local.tables) == {lid for lid, k in kinds.items() if k == "AWS::DynamoDB::Table"}
    assert set(local.state_machines) == {lid for lid, k in kinds.items() if k == "AWS::Serverless::StateMachine"}
    machine = local.state_machines["JobStateMachine"]
    tasks = {
        "FetchFunction",
        "PushFunction",
        "VoiceFunction",
        "SpeechFunction",
        "LipsyncFunction",
        "StoreFunction",
        "FailureFunction",
    }
    for function in local.functions.values():
        assert (function.arn in machine.definition) == (function.logical_id in tasks)
    assert local.functions["WebhookFunction"].http_routes == [("POST", "/webhooks/sync")]
    assert local.functions["ApiFunction"].http_routes == [
        ("POST", "/jobs"),
        ("GET", "/jobs/{id}"),
        ("GET", "/jobs"),
        ("POST", "/uploads"),
        ("GET", "/console"),
    ]
    [notification] = local.buckets["JobsBucket"]["NotificationConfiguration"]["LambdaConfigurations"]
    assert notification["Function"] == local.functions["IngestFunction"].arn
    assert notification["Filter"]["S3Key"]["Rules"] == [{"Name": "prefix", "Value": "inbox/"}]


@pytest.mark.parametrize(
    "logical_id", [lid for lid, r in load_template()["Resources"].items() if r["Type"] == "AWS::Serverless::Function"]
)
def test_every_function_handler_exists(logical_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.handler_modules import import_handler_module

    attribute = load_template()["Resources"][logical_id]["Properties"]["Handler"].rpartition(".")[2]
    assert callable(getattr(import_handler_module(logical_id, monkeypatch), attribute))


def test_the_api_key_is_a_no_echo_parameter_kept_in_secrets_manager() -> None:
    template = load_template()
    assert template["Parameters"]["SyncApiKey"]["NoEcho"] is True
    assert template["Resources"]["SyncApiKeySecret"]["Type"] == "AWS::SecretsManager::Secret"
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    assert "SYNC_API_KEY" not in env
    assert env["SYNC_API_KEY_SECRET_ARN"] == {"Ref": "SyncApiKeySecret"}


TEMPLATE = load_template()
RESOURCES: dict[str, dict[str, Any]] = TEMPLATE["Resources"]
FUNCTIONS = {name: r for name, r in RESOURCES.items() if r["Type"] == "AWS::Serverless::Function"}
DATA_SERVICES = ("s3", "dynamodb", "secretsmanager", "sqs", "sns", "states", "lambda")


def _statements(resource: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for policy in resource["Properties"].get("Policies", []):
        if isinstance(policy, dict) and "Statement" in policy:
            found.extend(policy["Statement"])
    return found


def test_push_and_store_can_move_a_5_gib_file_within_lambdas_limits() -> None:
    from revoice.aws.s3 import PART_BYTES

    for name in ("PushFunction", "StoreFunction"):
        properties = FUNCTIONS[name]["Properties"]
        assert properties["Timeout"] == 900  # Lambda's maximum: 5 GiB at the ~100 MiB/s a function sees
        assert properties["MemorySize"] >= 512
    assert 10_000 * PART_BYTES >= 5 * 1024**3  # S3 multipart allows 10,000 parts


def test_no_function_may_use_a_wildcard_action_or_a_wildcard_data_resource() -> None:
    for name, function in FUNCTIONS.items():
        for statement in _statements(function):
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            assert all("*" not in action for action in actions), (name, actions)
            if statement.get("Resource") == "*":
                assert all(action.split(":")[0] not in DATA_SERVICES for action in actions), (name, actions)
                assert "Condition" in statement, (name, actions)  # e.g. PutMetricData bound to a namespace


def test_the_bucket_is_private_encrypted_tls_only_and_expires_intermediate_files() -> None:
    bucket = RESOURCES["JobsBucket"]["Properties"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    [statement] = RESOURCES["JobsBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert (statement["Effect"], statement["Condition"]) == ("Deny", {"Bool": {"aws:SecureTransport": "false"}})
    rules = {rule["Id"]: rule for rule in bucket["LifecycleConfiguration"]["Rules"]}
    assert rules["expire-downloaded-sources"]["Prefix"] == "downloads/"
    assert "NoncurrentVersionExpirationInDays" in rules["expire-replaced-versions"]
    assert "AbortIncompleteMultipartUpload" in rules["abort-incomplete-uploads"]
    kept = ("inbox/", "media/", "results/", "failed/")
    assert not any(str(rule.get("Prefix", "")).startswith(kept) for rule in rules.values())


def test_async_invocations_have_a_dead_letter_queue_and_every_log_has_a_retention() -> None:
    globals_fn = TEMPLATE["Globals"]["Function"]
    assert globals_fn["DeadLetterQueue"]["Type"] == "SQS"
    assert globals_fn["LoggingConfig"]["LogGroup"] == {"Ref": "FunctionsLogGroup"}
    log_groups = [r for r in RESOURCES.values() if r["Type"] == "AWS::Logs::LogGroup"]
    assert len(log_groups) == 3
    assert all(group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"} for group in log_groups)
    logging = RESOURCES["JobStateMachine"]["Properties"]["Logging"]
    assert logging["Level"] == "ERROR"
    assert logging["IncludeExecutionData"] is False  # job states never reach the logs whole


@pytest.mark.parametrize(
    ("namespace", "metric"),
    [
        ("AWS/States", "ExecutionsFailed"),
        ("AWS/States", "ExecutionsTimedOut"),
        ("AWS/States", "ExecutionThrottled"),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
    ],
)
def test_bad_ends_are_alarmed_on(namespace: str, metric: str) -> None:
    alarms = [r["Properties"] for r in RESOURCES.values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    [alarm] = [a for a in alarms if (a.get("Namespace"), a.get("MetricName")) == (namespace, metric)]
    assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]


def test_every_functions_errors_are_in_an_errors_alarm_once() -> None:
    watched = [
        m["MetricStat"]["Metric"]["Dimensions"][0]["Value"]["Ref"]
        for alarm in ("FunctionErrorsAlarm", "ServiceFunctionErrorsAlarm")
        for m in RESOURCES[alarm]["Properties"]["Metrics"]
        if "MetricStat" in m and m["MetricStat"]["Metric"]["MetricName"] == "Errors"
    ]
    assert sorted(watched) == sorted(FUNCTIONS)


def test_no_metric_math_alarm_references_more_metrics_than_cloudwatch_allows() -> None:
    """CloudWatch refuses an alarm whose math references more than 10 metrics (a hard limit), and at most
    10 expressions: the stack would fail to deploy."""
    for name, resource in RESOURCES.items():
        queries = (
            resource.get("Properties", {}).get("Metrics", []) if resource["Type"] == "AWS::CloudWatch::Alarm" else []
        )
        assert sum("MetricStat" in q for q in queries) <= 10, name
        assert sum("Expression" in q for q in queries) <= 10, name


def test_every_iac_scanner_skip_says_why() -> None:
    skips = [
        skip
        for resource in RESOURCES.values()
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    ]
    assert skips
    assert all(len(str(skip.get("comment", ""))) > 40 for skip in skips)


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_no_handler_imports_boto3_or_httpx_before_its_first_call(function: str) -> None:
    """Cold start: boto3 alone costs about 80 ms to import; clients are made on first use instead."""
    import os
    import subprocess
    import sys

    from tests.handler_modules import PLAN

    spec = PLAN.functions[function]
    handler = spec.handler.rsplit(".", 1)[0]
    probe = f"import sys, {handler}; print(sorted({{'boto3', 'httpx'}} & set(sys.modules)))"
    env = {**os.environ, **{name: str(value) for name, value in spec.environment.items()}}
    answer = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, env=env)
    assert answer.stdout.strip() == "[]"


def test_the_template_has_no_yaml_aliases_cloudformation_would_refuse() -> None:
    """CloudFormation itself rejects YAML anchors and aliases (only sam/package unroll them)."""
    import yaml

    events = yaml.parse((INFRA / "template.yaml").read_text(), Loader=yaml.SafeLoader)  # tags are not resolved
    assert not [e for e in events if isinstance(e, yaml.AliasEvent) or getattr(e, "anchor", None)]


def test_the_templates_models_are_the_apis() -> None:
    from revoice.sync.models import MODELS

    assert tuple(TEMPLATE["Parameters"]["DefaultModel"]["AllowedValues"]) == MODELS
