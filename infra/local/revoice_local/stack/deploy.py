"""Create the template's resources in moto: buckets, tables, secrets, roles, functions, the state machine,
the bucket notification. Everything comes from :func:`revoice_local.stack.template.plan`."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import boto3

from revoice_local.stack import iam
from revoice_local.stack.template import LocalPlan, plan

TABLE_KEYS = ("KeySchema", "AttributeDefinitions", "BillingMode", "GlobalSecondaryIndexes", "StreamSpecification")


def deploy(parameters: dict[str, Any], stack_name: str = "revoice-local") -> LocalPlan:
    """Deploy the template into whatever AWS endpoint boto3 is pointed at (the local moto server)."""
    secrets = boto3.client("secretsmanager")
    known = {}
    for logical_id, secret in plan(parameters, stack_name).secrets.items():
        value = secret.get("SecretString") or _generated(secret.get("GenerateSecretString", {}))
        known[logical_id] = secrets.create_secret(Name=secret["name"], SecretString=value)["ARN"]
    resolved = plan(parameters, stack_name, known_refs=known)
    s3 = boto3.client("s3")
    for bucket in resolved.buckets.values():
        s3.create_bucket(Bucket=bucket["name"])
        if bucket.get("VersioningConfiguration", {}).get("Status") == "Enabled":
            s3.put_bucket_versioning(Bucket=bucket["name"], VersioningConfiguration={"Status": "Enabled"})
        if "BucketEncryption" in bucket:
            rules = [
                {"ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"]}
                for rule in bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
            ]
            encryption: Any = {"Rules": rules}
            s3.put_bucket_encryption(Bucket=bucket["name"], ServerSideEncryptionConfiguration=encryption)
        if "CorsConfiguration" in bucket:
            cors = [_cors_rule(rule) for rule in bucket["CorsConfiguration"]["CorsRules"]]
            s3.put_bucket_cors(Bucket=bucket["name"], CORSConfiguration={"CORSRules": cors})  # type: ignore[typeddict-item]
        if "PublicAccessBlockConfiguration" in bucket:
            s3.put_public_access_block(
                Bucket=bucket["name"], PublicAccessBlockConfiguration=bucket["PublicAccessBlockConfiguration"]
            )
    dynamodb = boto3.client("dynamodb")
    for table in resolved.tables.values():
        dynamodb.create_table(TableName=table["name"], **{k: table[k] for k in TABLE_KEYS if k in table})
        if "TimeToLiveSpecification" in table:
            dynamodb.update_time_to_live(
                TableName=table["name"], TimeToLiveSpecification=table["TimeToLiveSpecification"]
            )
    iam.create_roles(resolved, boto3.client("iam"))
    functions = boto3.client("lambda")
    for function in resolved.functions.values():
        functions.create_function(
            FunctionName=function.name,
            Runtime=function.runtime,  # type: ignore[arg-type]
            Role=function.role,
            Handler=function.handler,
            Code={"ZipFile": _placeholder_zip()},
            Timeout=function.timeout,
            MemorySize=function.memory,
            Environment={"Variables": function.environment},
            TracingConfig={"Mode": function.tracing},  # type: ignore[typeddict-item]
        )
    states = boto3.client("stepfunctions")
    for machine in resolved.state_machines.values():
        states.create_state_machine(
            name=machine.name,
            definition=machine.definition,
            roleArn=machine.role,
            type=machine.type,  # type: ignore[arg-type]
        )
    _notifications(resolved, s3)
    return resolved


def _notifications(resolved: LocalPlan, s3: Any) -> None:
    """Each bucket's Lambda notifications, as its NotificationConfiguration declares them."""
    for bucket in resolved.buckets.values():
        declared = bucket.get("NotificationConfiguration", {}).get("LambdaConfigurations", [])
        configs = []
        for declaration in declared:
            config: dict[str, Any] = {"LambdaFunctionArn": declaration["Function"], "Events": [declaration["Event"]]}
            rules = declaration.get("Filter", {}).get("S3Key", {}).get("Rules", [])
            if rules:
                config["Filter"] = {"Key": {"FilterRules": [{"Name": r["Name"], "Value": r["Value"]} for r in rules]}}
            configs.append(config)
        if configs:
            s3.put_bucket_notification_configuration(
                Bucket=bucket["name"], NotificationConfiguration={"LambdaFunctionConfigurations": configs}
            )


def _cors_rule(rule: dict[str, Any]) -> dict[str, Any]:
    """A template CORS rule in the S3 API's spelling (CloudFormation says ``MaxAge``, S3 ``MaxAgeSeconds``)."""
    spelled = {k: v for k, v in rule.items() if k != "MaxAge"}
    if "MaxAge" in rule:
        spelled["MaxAgeSeconds"] = int(rule["MaxAge"])
    return spelled


def _placeholder_zip() -> bytes:
    """moto wants a code package; the local runtime runs the one `make build` made (see runtime.py)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README.txt", "the local stack runs this function from build/lambda/<arch>/<function>\n")
    return buffer.getvalue()


def _generated(spec: dict[str, Any]) -> str:
    """What CloudFormation's ``GenerateSecretString`` makes: a random string of the asked length (letters and
    digits only, as ``ExcludePunctuation`` asks)."""
    import secrets
    import string

    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(int(spec.get("PasswordLength", 32))))
