"""The template and the state machine keep the promises the design makes, and the local stack is
derived from them (not from a copy)."""

from __future__ import annotations

import inspect
import json
from typing import Any

import pytest

from revoice_local.stack import iam, lambda_seam
from revoice_local.stack.template import ACCOUNT, INFRA, Resolver, load_template, plan, stack_id

ASL = json.loads((INFRA / "statemachine" / "revoice.asl.json").read_text())
STATES: dict[str, dict[str, Any]] = ASL["States"]


def test_the_execution_timeout_outlasts_every_bound_of_its_own_but_is_finite() -> None:
    """A job that waits too long fails with the specific reason of what it waited for; the overall
    timeout is only the safety net behind them."""
    parameters = load_template()["Parameters"]
    longest_generation = 86_400  # the manifest's timeout_seconds may ask for up to a day
    slot_queue = parameters["MaxGenerationWaits"]["Default"] * parameters["GenerationWaitSeconds"]["Default"]
    clone_queue = parameters["MaxSlotWaits"]["Default"] * parameters["SlotWaitSeconds"]["Default"]
    assert longest_generation + slot_queue + clone_queue < ASL["TimeoutSeconds"] <= 7 * 24 * 3600


@pytest.mark.parametrize(
    "name",
    [
        n
        for n, s in STATES.items()
        if s["Type"] == "Task" and n not in ("Record failure", "Wait for callback", "Wait for a generation slot")
    ],
)
def test_every_task_retries_transient_errors_and_catches_everything_else(name: str) -> None:
    state = STATES[name]
    retried = {error for rule in state["Retry"] for error in rule["ErrorEquals"]}
    assert "TransientStepError" in retried
    never, *_, crashed = state["Retry"]
    assert never == {"ErrorEquals": ["StepError", "JobInputError", "SyncStepError"], "MaxAttempts": 0}
    assert crashed["ErrorEquals"] == ["States.ALL"]  # a crash mid-step: the steps are safe to run again
    assert crashed["MaxAttempts"] <= 2
    assert all(rule["MaxAttempts"] <= 10 for rule in state["Retry"] if "BusyStepError" not in rule["ErrorEquals"])
    busy = next(rule for rule in state["Retry"] if "BusyStepError" in rule["ErrorEquals"])
    assert busy["MaxDelaySeconds"] <= 60
    assert busy["MaxAttempts"] <= 30
    assert [c["ErrorEquals"] for c in state["Catch"]] == [["States.ALL"]]
    assert STATES[state["Catch"][0]["Next"]]["Next"] == "Record failure"


@pytest.mark.parametrize(
    "name", [n for n, s in STATES.items() if s.get("Resource") == "arn:aws:states:::lambda:invoke"]
)
def test_a_retry_never_starts_while_an_attempt_may_still_run(name: str) -> None:
    """A Step Functions timeout shorter than the function's would retry while the first attempt runs on.
    Lambda tasks have none: the function's Timeout bounds each attempt, and Step Functions retries it
    (Sandbox.Timedout under States.ALL) only once Lambda has stopped it."""
    state = STATES[name]
    assert "TimeoutSeconds" not in state
    assert "TimeoutSecondsPath" not in state
    assert "HeartbeatSeconds" not in state


def test_a_lost_wake_up_times_out_into_asking_for_a_slot_again() -> None:
    state = STATES["Wait for a generation slot"]
    assert state["Resource"].endswith(".waitForTaskToken")
    assert state["TimeoutSecondsPath"] == "$.config.generationWaitSeconds"
    timeout = next(c for c in state["Catch"] if c["ErrorEquals"] == ["States.Timeout"])
    assert timeout["Next"] == state["Next"] == "Start lip-sync"
    assert next(r for r in state["Retry"] if "States.Timeout" in r["ErrorEquals"])["MaxAttempts"] == 0
    assert STATES["Generation started?"]["Default"] == "Wait for a generation slot"


def test_a_lost_webhook_times_out_into_the_polling_loop() -> None:
    state = STATES["Wait for callback"]
    assert state["Resource"].endswith(".waitForTaskToken")
    assert state["TimeoutSecondsPath"] == "$.config.callbackTimeoutSeconds"
    timeout = next(c for c in state["Catch"] if c["ErrorEquals"] == ["States.Timeout"])
    assert timeout["Next"] == "Wait for lip-sync"
    retried_timeout = next(r for r in state["Retry"] if "States.Timeout" in r["ErrorEquals"])
    assert retried_timeout["MaxAttempts"] == 0  # not swallowed by the crash retrier: it must reach the Catch
    assert state["Catch"][-1] == {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Lip-sync failed"}
    assert STATES["Callback or poll?"]["Default"] == "Wait for lip-sync"


def test_every_wait_reads_its_seconds_from_the_job_config_or_from_the_step_that_asked_for_it() -> None:
    """Never a fixed ``Seconds``: local runs wait less, and a step may pass on sync. labs' Retry-After."""
    waits = {n: s["SecondsPath"] for n, s in STATES.items() if s["Type"] == "Wait"}
    assert waits
    assert all(path.startswith("$.config.") for name, path in waits.items() if name != "Wait for a clone slot")
    assert waits["Wait for a clone slot"] == "$.voiceWaitSeconds"


@pytest.mark.parametrize(
    ("choice", "cap", "gives_up_in"),
    [
        ("Speech ready?", "$.tts.pollsUsedUp", "Speech timed out"),
        ("Lip-sync done?", "$.generation.pollsUsedUp", "Lip-sync timed out"),
    ],
)
def test_every_polling_loop_has_an_attempt_cap(choice: str, cap: str, gives_up_in: str) -> None:
    """The cap is counted in Python (tests/unit/test_contract.py); the Choice gives up on its boolean."""
    caps = [rule for rule in STATES[choice]["Choices"] if rule.get("Variable") == cap]
    assert caps == [{"Variable": cap, "BooleanEquals": True, "Next": gives_up_in}]


def test_failed_and_rejected_generations_have_their_own_branch() -> None:
    """Which statuses end a generation is decided in Python (``Generation.finished``/``succeeded``, with
    every documented end: FAILED, REJECTED, TIMED_OUT, CANCELED); the Choice reads the booleans."""
    from revoice.pipeline.state import GenerationState
    from revoice.sync.models import GENERATION_FAILED, Generation

    rules = {rule["Variable"]: rule for rule in STATES["Lip-sync done?"]["Choices"]}
    assert rules["$.generation.succeeded"]["Next"] == "Store results"
    assert rules["$.generation.done"]["Next"] == "Lip-sync failed"
    assert {"done", "succeeded"} <= set(GenerationState.model_fields)
    for status in GENERATION_FAILED:
        ended = Generation(id="g", status=status)
        assert (ended.finished, ended.succeeded) == (True, False)
    assert {"FAILED", "REJECTED", "TIMED_OUT", "CANCELED"} <= GENERATION_FAILED


def test_every_failure_path_ends_in_the_failure_recorder() -> None:
    for name, state in STATES.items():
        if name.endswith(("failed", "timed out")):
            nxt = state["Next"]
            assert nxt in ("Record failure", "Lip-sync failed", "Speech failed")


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
    assert local.functions["ApiFunction"].http_routes == [("POST", "/jobs"), ("GET", "/jobs/{id}")]
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


def test_the_moto_seam_the_local_stack_relies_on_is_still_there() -> None:
    cls = lambda_seam.seam_target()
    parameters = list(inspect.signature(cls._invoke_lambda).parameters)
    assert parameters[:2] == ["self", "event"]


def test_the_seam_guard_fails_loudly_if_moto_moves_it() -> None:
    with pytest.raises(RuntimeError, match="moto no longer has"):
        lambda_seam.seam_target(("moto.awslambda.models", "LambdaFunction", "_invoke_lambda_renamed"))


def test_the_moto_iam_seams_the_local_stack_relies_on_are_still_there() -> None:
    """moto checks these services' requests against "*" unless told the resource; and its interpreter
    signs with a key the local stack gives the state machine's role."""
    from moto.iam.access_control import IAMRequest

    targets = iam.seam_targets()
    assert set(targets) == {"lambda", "dynamodb", "stepfunctions", "secretsmanager"}
    authorize = targets["dynamodb"]._authenticate_and_authorize_normal_action  # type: ignore[attr-defined]
    assert "resource" in inspect.signature(authorize).parameters
    assert list(inspect.signature(IAMRequest.__init__).parameters)[1:] == [
        "account_id",
        "method",
        "path",
        "data",
        "body",
        "headers",
        "action",
    ]
    access_key, secret_key = iam.interpreter_key()
    assert access_key
    assert secret_key


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


def test_every_functions_errors_are_in_the_errors_alarm() -> None:
    metrics = RESOURCES["FunctionErrorsAlarm"]["Properties"]["Metrics"]
    watched = {m["MetricStat"]["Metric"]["Dimensions"][0]["Value"]["Ref"] for m in metrics if "MetricStat" in m}
    assert watched == set(FUNCTIONS)


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


# -- what AWS would refuse or break on the first deploy -------------------------------------------------


# The property that names each kind of resource, where a template may set it (unique per account and region,
# or globally for buckets).
PHYSICAL_NAMES = {
    "AWS::S3::Bucket": "BucketName",
    "AWS::DynamoDB::Table": "TableName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::IAM::Role": "RoleName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::SNS::Topic": "TopicName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::StepFunctions::StateMachine": "StateMachineName",
    "AWS::Scheduler::Schedule": "Name",
    "AWS::Scheduler::ScheduleGroup": "Name",
    "AWS::Events::Rule": "Name",
    "AWS::CloudWatch::Alarm": "AlarmName",
    "AWS::SecretsManager::Secret": "Name",
    "AWS::KMS::Alias": "AliasName",
    "AWS::ApiGatewayV2::Api": "Name",
}


def _translated_names(stack_name: str) -> dict[str, str]:
    """Every physical name the translated template sets, resolved for ``stack_name``."""
    from revoice_local.stack.template import UnsupportedIntrinsic, pseudo_parameters
    from revoice_local.stack.translate import translated

    resolve = Resolver(
        pseudo_parameters(stack_name), {}, {"WebhooksOn": True, "HasWebhookBaseUrl": False, "HasAlarmEmail": True}
    )
    names = {}
    for logical_id, resource in translated()["Resources"].items():
        key = PHYSICAL_NAMES.get(resource["Type"])
        if key is None or key not in resource.get("Properties", {}):
            continue  # named by CloudFormation: unique
        try:
            names[f"{resource['Type']} {logical_id}.{key}"] = str(resolve(resource["Properties"][key]))
        except UnsupportedIntrinsic:  # named after another resource: as unique as that one
            continue
    return names


def test_two_stacks_in_one_account_and_region_share_no_physical_name() -> None:
    first, second = _translated_names("revoice"), _translated_names("revoice-staging")
    assert first
    same = {key: first[key] for key in first if first[key] == second.get(key)}
    assert same == {}


@pytest.mark.parametrize("stack_name", ["A", "MyRevoice", "x" * 128, "prod-revoice-eu-west-1-localisation-team"])
def test_any_valid_stack_name_makes_valid_bucket_and_state_machine_names(stack_name: str) -> None:
    import re

    names = _translated_names(stack_name)
    bucket = names["AWS::S3::Bucket JobsBucket.BucketName"]
    assert re.fullmatch(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]", bucket), bucket
    machine = names["AWS::StepFunctions::StateMachine JobStateMachine.StateMachineName"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,80}", machine), machine


def test_alarm_notifications_can_be_delivered_under_the_topics_key() -> None:
    """CloudWatch cannot publish to a topic encrypted with the AWS managed SNS key: a customer managed
    key whose policy lets cloudwatch.amazonaws.com use it."""
    topic = RESOURCES["AlarmTopic"]["Properties"]
    assert topic["KmsMasterKeyId"] == {"Ref": "AlarmTopicKey"}
    key = RESOURCES["AlarmTopicKey"]
    assert key["Type"] == "AWS::KMS::Key"
    assert key["Properties"]["EnableKeyRotation"] is True
    granted = [
        s
        for s in key["Properties"]["KeyPolicy"]["Statement"]
        if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    ]
    assert granted
    assert {"kms:Decrypt", "kms:GenerateDataKey*"} <= set(granted[0]["Action"])


@pytest.mark.parametrize(
    "logical_id",
    [
        lid
        for lid, r in load_template()["Resources"].items()
        if r["Type"]
        in ("AWS::S3::Bucket", "AWS::DynamoDB::Table", "AWS::SecretsManager::Secret", "AWS::Logs::LogGroup")
    ],
)
def test_users_data_outlives_the_stack(logical_id: str) -> None:
    assert RESOURCES[logical_id]["DeletionPolicy"] == "Retain"
    assert RESOURCES[logical_id]["UpdateReplacePolicy"] == "Retain"


def test_only_the_jobs_bucket_may_invoke_ingest() -> None:
    """SAM's S3 event grants only SourceAccount: any bucket of the account could invoke Ingest."""
    (permission,) = [
        r["Properties"]
        for r in RESOURCES.values()
        if r["Type"] == "AWS::Lambda::Permission" and r["Properties"]["Principal"] == "s3.amazonaws.com"
    ]
    assert not any(e["Type"] == "S3" for f in FUNCTIONS.values() for e in f["Properties"].get("Events", {}).values())
    local = plan({"SyncApiKey": "k", "ApiToken": "t" * 16})
    resolve = Resolver(
        {"AWS::Partition": "aws", "AWS::AccountId": ACCOUNT, "AWS::StackId": stack_id("revoice-local")}, {}, {}
    )
    assert resolve(permission["SourceArn"]) == f"arn:aws:s3:::{local.buckets['JobsBucket']['name']}"
    assert permission["SourceAccount"] == {"Ref": "AWS::AccountId"}


def test_webhooks_off_is_the_default_answer_and_leaves_no_secret_to_sign_with() -> None:
    parameter = TEMPLATE["Parameters"]["SyncWebhookSecret"]
    assert parameter["Default"] == "none"
    off = plan({"SyncApiKey": "k", "ApiToken": "t" * 16})
    assert "SyncWebhookSecretValue" not in off.secrets
    assert "SYNC_WEBHOOK_SECRET_ARN" not in off.functions["WebhookFunction"].environment
    on = plan({"SyncApiKey": "k", "ApiToken": "t" * 16, "SyncWebhookSecret": "whsec_x"})
    assert (
        on.functions["WebhookFunction"].environment["SYNC_WEBHOOK_SECRET_ARN"]
        == on.secrets["SyncWebhookSecretValue"]["arn"]
    )


def test_the_shipped_samconfig_deploys_without_prompts_or_traps() -> None:
    import tomllib

    config = tomllib.loads((INFRA.parent / "samconfig.toml").read_text())
    deploy = config["default"]["deploy"]["parameters"]
    assert deploy["template_file"] == ".aws-sam/build/template.yaml"
    assert set(deploy["capabilities"].split()) == {"CAPABILITY_IAM"}
    assert deploy["resolve_s3"] is True
    assert "parameter_overrides" not in deploy  # the secrets come on the command line, never in a file
    assert config["default"]["validate"]["parameters"]["lint"] is True


def test_failed_executions_reach_the_failure_recorder_too() -> None:
    """An execution that ends FAILED without passing "Record failure" (its retries ran out, a data or
    history limit) would otherwise leave its job RUNNING with its slot and voice held."""
    rule = FUNCTIONS["FailureFunction"]["Properties"]["Events"]["ExecutionEndedBadly"]["Properties"]["Pattern"]
    assert set(rule["detail"]["status"]) == {"FAILED", "TIMED_OUT", "ABORTED"}


def test_every_job_the_parameters_allow_fits_in_an_executions_history() -> None:
    """25,000 events at most: the loops' maxima, each turn counted from the ASL, fit with a fifth to spare."""
    from revoice.pipeline.history import HISTORY_BUDGET, HISTORY_LIMIT, worst_case_events
    from revoice.pipeline.state import RunConfig

    parameters = TEMPLATE["Parameters"]
    widest = RunConfig(
        max_generation_polls=parameters["MaxGenerationPolls"]["MaxValue"],
        max_tts_polls=parameters["MaxTtsPolls"]["MaxValue"],
        max_generation_waits=parameters["MaxGenerationWaits"]["MaxValue"],
        max_slot_waits=parameters["MaxSlotWaits"]["MaxValue"],
    )
    assert worst_case_events(widest) <= HISTORY_BUDGET <= 0.8 * HISTORY_LIMIT


def test_the_history_counts_match_the_loops_of_the_asl() -> None:
    from revoice.pipeline import history

    def kinds(*names: str) -> list[str]:
        return [
            STATES[n]["Type"] + ("+token" if ".waitForTaskToken" in STATES[n].get("Resource", "") else "")
            for n in names
        ]

    events = {"Task": 5, "Task+token": 6, "Wait": 2, "Choice": 2}
    assert sum(events[k] for k in kinds("Wait for lip-sync", "Check lip-sync", "Lip-sync done?")) == history.POLL
    assert sum(events[k] for k in kinds("Wait for speech", "Check speech", "Speech ready?")) == history.POLL
    assert (
        sum(events[k] for k in kinds("Start lip-sync", "Generation started?", "Wait for a generation slot"))
        == history.GENERATION_WAIT
    )
    assert sum(events[k] for k in kinds("Ensure voice", "Voice ready?", "Wait for a clone slot")) == history.VOICE_WAIT


def test_the_templates_models_are_the_apis() -> None:
    from revoice.sync.models import MODELS

    assert tuple(TEMPLATE["Parameters"]["DefaultModel"]["AllowedValues"]) == MODELS


def test_the_moto_seams_for_atomic_writes_one_parse_and_execution_ends_are_still_there() -> None:
    from revoice_local.stack import moto_seams

    targets = moto_seams.seam_targets()
    assert len(targets) == 4
    moto_seams.install()
    moto_seams.install()  # idempotent: the originals are kept once
    parser: Any = targets[moto_seams.ASL_PARSER]
    definition = json.dumps(ASL).replace("${", "").replace("Arn}", "")
    first, tree = parser.parse(definition)
    second, same_tree = parser.parse(definition)
    assert same_tree is tree  # parsed once
    assert first is not second  # components made afresh for every execution (some hold per-run state)


def test_moto_parses_each_jsonpath_once_and_shares_one_lambda_client() -> None:
    from revoice_local.stack import moto_seams

    modules = moto_seams.name_targets()
    assert len(modules) == 3
    moto_seams.install()
    for seam in moto_seams.JSONPATH_PARSE:
        parse = getattr(modules[seam], seam[1])
        assert parse("$.job.voice") is parse("$.job.voice")
        assert [m.value for m in parse("$.job.voice").find({"job": {"voice": "v1"}})] == ["v1"]
    client_for = getattr(modules[moto_seams.LAMBDA_CLIENT], moto_seams.LAMBDA_CLIENT[1])
    client = client_for(region="us-east-1", service="lambda")
    assert client_for(region="us-east-1", service="lambda") is client
    assert client.meta.config.max_pool_connections == moto_seams.LAMBDA_POOL
    assert client.meta.config.retries["total_max_attempts"] == 1  # moto's own settings: the ASL retries


def test_the_seam_guards_fail_loudly_if_moto_moves_them(monkeypatch: pytest.MonkeyPatch) -> None:
    from revoice_local.stack import moto_seams

    monkeypatch.setattr(moto_seams, "SEAMS", (("moto.dynamodb.responses", "DynamoHandler", "no_such_method"),))
    with pytest.raises(RuntimeError, match="moto no longer has"):
        moto_seams.seam_targets()
    monkeypatch.setattr(moto_seams, "NAMES", (("moto.stepfunctions.parser.asl.utils.json_path", "gone"),))
    with pytest.raises(RuntimeError, match="moto no longer calls"):
        moto_seams.name_targets()
