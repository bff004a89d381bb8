"""What AWS would refuse or break on the first deploy, checked on the template (what moto does not model)."""

from __future__ import annotations

import pytest

from revoice_local.stack.template import ACCOUNT, INFRA, Resolver, load_template, plan, stack_id
from tests.infra.test_template import FUNCTIONS, RESOURCES, STATES, TEMPLATE

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
