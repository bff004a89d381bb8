"""Which revoice the command line talks to: the local stack (by default) or a deployed stack.

``revoice local`` writes where its pieces listen to ``.local/stack.json``; ``--stack NAME`` reads a
deployed stack's outputs from CloudFormation, with the standard AWS profile and region resolution.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import boto3

DEFAULT_STATE = Path(".local/stack.json")
LOCAL_REGION = "us-east-1"


class TargetError(Exception):
    """The stack to talk to cannot be found; the message says what to do."""


@dataclass(frozen=True)
class Target:
    name: str
    bucket: str
    jobs_table: str
    voices_table: str
    state_machine_arn: str
    cleanup_function: str
    api_url: str
    sync_base_url: str
    aws_endpoint: str | None = None
    sync_api_key: str | None = None
    sync_api_key_secret_arn: str | None = None
    api_token: str | None = None
    aws_access_key_id: str | None = None  # the local stack's administrator (IAM is enforced there too)
    aws_secret_access_key: str | None = None

    def options(self) -> dict[str, Any]:
        if not self.aws_endpoint:
            return {}
        return {
            "endpoint_url": self.aws_endpoint,
            "region_name": LOCAL_REGION,
            "aws_access_key_id": self.aws_access_key_id,
            "aws_secret_access_key": self.aws_secret_access_key,
            "aws_session_token": None,
        }

    def client(self, service: str) -> Any:
        return boto3.client(service, **self.options())  # type: ignore[call-overload]

    def table(self, name: str) -> Any:
        return boto3.resource("dynamodb", **self.options()).Table(name)

    def api_key(self) -> str:
        if self.sync_api_key:
            return self.sync_api_key
        if not self.sync_api_key_secret_arn:
            raise TargetError("the stack has no SyncApiKeySecretArn output: redeploy with the current template")
        return str(
            self.client("secretsmanager").get_secret_value(SecretId=self.sync_api_key_secret_arn)["SecretString"]
        )

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=2))
        path.chmod(0o600)


def local(path: Path = DEFAULT_STATE) -> Target:
    if not path.exists():
        raise TargetError(
            f"no local stack is running ({path} is missing): start one with `revoice local` in "
            "another terminal, or pass --stack NAME for a deployed stack"
        )
    return Target(**json.loads(path.read_text()))


def deployed(stack_name: str) -> Target:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        stacks = boto3.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"]
    except (ClientError, BotoCoreError) as exc:
        raise TargetError(f"cannot read stack {stack_name}: {exc}") from exc
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
    try:
        return Target(
            name=stack_name,
            bucket=outputs["JobsBucketName"],
            jobs_table=outputs["JobsTableName"],
            voices_table=outputs["VoicesTableName"],
            state_machine_arn=outputs["StateMachineArn"],
            cleanup_function=outputs["CleanupFunctionName"],
            api_url=outputs["ApiUrl"],
            sync_base_url=outputs.get("SyncBaseUrl", "https://api.sync.so"),
            sync_api_key_secret_arn=outputs.get("SyncApiKeySecretArn"),
        )
    except KeyError as exc:
        raise TargetError(f"stack {stack_name} has no {exc} output: is it a revoice stack?") from exc


def resolve(stack_name: str | None, state_file: Path) -> Target:
    return deployed(stack_name) if stack_name else local(state_file)
