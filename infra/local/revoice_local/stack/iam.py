"""IAM on the local stack: each function acts with its own role's permissions, enforced by moto.

moto enforces IAM in server mode once authentication is switched on (``/moto-api/reset-auth``): every
request must be signed by a known key, and the key's policies must allow the action. The roles come
from the SAM-translated template (the policy templates expanded as CloudFormation would), and each
execution environment gets credentials for its function's role from ``sts:AssumeRole``. The local
stack itself (tests, the command line, the HTTP relay) signs with an administrator's key.

Where moto's enforcement falls short of AWS, this module closes the gap or says so:
- moto checks S3 against the bucket and key, but Lambda, DynamoDB, Step Functions, Secrets Manager and
  EventBridge only against ``*``, so a policy naming a function, a table, a state machine, a secret or a
  bus would never match. The resource seams below tell moto the ARN each request acts on (the function,
  the table or its index, the state machine of a ``StartExecution`` or of a task token, the secret, the
  bus), guarded by a test like the Lambda seam.
- moto's Step Functions interpreter signs its own calls (Lambda tasks, SDK integrations) with a fixed
  key. That key is given to a user holding the state machine role's policies, so the state machine acts
  with its role's permissions too.
- moto does not evaluate policy conditions for these calls; the template's only conditioned statement
  (``cloudwatch:PutMetricData`` by namespace) is never called: metrics go out as log lines (EMF).
"""

from __future__ import annotations

import hmac
import importlib
import json
import math
import re
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any
from urllib.parse import parse_qsl, unquote, urlparse

import httpx

from revoice_local.stack import s3_forms
from revoice_local.stack.template import ACCOUNT, REGION, LocalPlan

ADMIN_USER = "revoice-local-admin"
ADMIN_ARN = f"arn:aws:iam::{ACCOUNT}:user/{ADMIN_USER}"
ADMIN_POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
RESOURCE_SEAMS = {
    "lambda": ("moto.awslambda.responses", "LambdaResponse"),
    "dynamodb": ("moto.dynamodb.responses", "DynamoHandler"),
    "stepfunctions": ("moto.stepfunctions.responses", "StepFunctionResponse"),
    "secretsmanager": ("moto.secretsmanager.responses", "SecretsManagerResponse"),
    "events": ("moto.events.responses", "EventsHandler"),
    "s3": ("moto.s3.responses", "S3Response"),
}


def seam_targets() -> dict[str, type]:
    """The moto response classes the resource seams extend; loud when moto has moved them."""
    found = {}
    for service, (module_name, class_name) in RESOURCE_SEAMS.items():
        cls = getattr(importlib.import_module(module_name), class_name, None)
        if cls is None or not hasattr(cls, "call_action") or not hasattr(cls, "_get_action"):
            raise RuntimeError(f"moto no longer has {module_name}.{class_name}: IAM resources cannot be checked")
        found[service] = cls
    return found


def install_resource_seams() -> None:
    targets = seam_targets()
    targets["lambda"]._determine_resource = _function_resource  # type: ignore[attr-defined]
    targets["lambda"]._authenticate_and_authorize_normal_action = _authorize_lambda  # type: ignore[attr-defined]
    targets["dynamodb"]._determine_resource = _dynamodb_resource  # type: ignore[attr-defined]
    targets["stepfunctions"]._determine_resource = _stepfunctions_resource  # type: ignore[attr-defined]
    targets["stepfunctions"]._authenticate_and_authorize_normal_action = _authorize_stepfunctions  # type: ignore[attr-defined]
    targets["secretsmanager"]._determine_resource = _secret_resource  # type: ignore[attr-defined]
    targets["events"]._determine_resource = _event_bus_resource  # type: ignore[attr-defined]
    s3 = targets["s3"]
    _originals.setdefault("s3", s3._authenticate_and_authorize_s3_action)  # type: ignore[attr-defined]
    s3._authenticate_and_authorize_s3_action = _authorize_s3  # type: ignore[attr-defined]
    if not hasattr(s3._bucket_response_post, "__wrapped__"):  # type: ignore[attr-defined]
        s3._bucket_response_post = s3_forms.with_cors_headers(s3._bucket_response_post)  # type: ignore[attr-defined]


def _body(response: Any) -> dict[str, Any]:
    body = getattr(response, "body", None)
    if isinstance(body, dict):
        return body
    try:
        parsed = json.loads(body or "{}")
    except (TypeError, ValueError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


LAMBDA_ACTIONS = {"Invoke": "InvokeFunction"}  # moto names Lambda's actions after its own methods


def _authorize_lambda(self: Any, resource: str = "*") -> None:
    from moto.iam.access_control import IAMRequest

    class LambdaRequest(IAMRequest):
        def __init__(self, *, action: str, data: Any, body: bytes, **kwargs: Any) -> None:
            # moto's Lambda hands its request headers over as the data of a bodiless request (a GET),
            # which then hashes into the signature it recalculates: such a request has no payload.
            super().__init__(action=LAMBDA_ACTIONS.get(action, action), data=data if body else {}, body=body, **kwargs)

    self._authenticate_and_authorize_action(LambdaRequest, resource)


def _function_resource(self: Any) -> str:
    match = re.search(r"/functions/([^/?]+)", str(getattr(self, "path", "")))
    if match is None:
        return "*"
    name = unquote(match.group(1))
    return name if name.startswith("arn:") else f"arn:aws:lambda:{self.region}:{self.current_account}:function:{name}"


def _dynamodb_resource(self: Any) -> str:
    body = _body(self)
    table = body.get("TableName")
    batch = body.get("RequestItems")
    if table is None and isinstance(batch, dict) and len(batch) == 1:
        table = next(iter(batch))  # BatchGetItem/BatchWriteItem on one table: AWS checks that table's ARN
    if not isinstance(table, str):
        return "*"  # several tables (TransactWriteItems...): checked as "*", stricter than AWS
    arn = f"arn:aws:dynamodb:{self.region}:{self.current_account}:table/{table}"
    index = body.get("IndexName")
    return f"{arn}/index/{index}" if isinstance(index, str) else arn


def _stepfunctions_resource(self: Any) -> str:
    body = _body(self)
    for key in ("stateMachineArn", "executionArn", "mapRunArn"):
        if isinstance(body.get(key), str):
            return str(body[key])
    token = body.get("taskToken")
    if isinstance(token, str):  # a callback answers for the state machine whose execution waits on the token
        return _token_owner(self, token) or "*"
    return "*"


def _token_owner(response: Any, token: str) -> str | None:
    for machine in response.stepfunction_backend.state_machines:
        for execution in machine.executions:
            worker = getattr(execution, "exec_worker", None)
            if worker is not None and worker.env.callback_pool_manager.get(token) is not None:
                return str(machine.arn)
    return None


def _authorize_stepfunctions(self: Any, resource: str = "*") -> None:
    """A token no execution waits on is refused as invalid (``InvalidToken``, ``TaskTimedOut``...) by Step
    Functions whatever the caller may do, so it is not an authorization question."""
    from moto.iam.access_control import IAMRequest

    token = _body(self).get("taskToken")
    if isinstance(token, str) and _token_owner(self, token) is None:
        return
    self._authenticate_and_authorize_action(IAMRequest, resource)


def _secret_resource(self: Any) -> str:
    secret_id = _body(self).get("SecretId")
    if not isinstance(secret_id, str):
        return "*"
    if secret_id.startswith("arn:"):
        return secret_id
    from moto.secretsmanager.models import secretsmanager_backends

    secrets = secretsmanager_backends[self.current_account][self.region].secrets
    secret = secrets.get(secret_id) if hasattr(secrets, "get") else None
    return str(secret.arn) if secret is not None else f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{secret_id}"


_originals: dict[str, Any] = {}
MAX_PRESIGNED_SECONDS = 7 * 24 * 3600  # S3's limit on X-Amz-Expires


def _authorize_s3(self: Any, bucket_name: str | None = None, key_name: str | None = None) -> None:
    """moto reads S3 credentials from the Authorization header only, and fails on a presigned URL (its
    credentials are in the query): that request is checked here as S3 checks it, signature, expiry and the
    signer's policies. So is a browser's form upload (credentials in form fields: ``s3_forms``); a CORS
    preflight carries no credentials, and S3 answers it from the bucket's CORS rules alone."""
    if self.method == "OPTIONS":
        return
    form_upload = self.method == "POST" and key_name is None and "policy" in self.form_data
    if "X-Amz-Signature=" not in (urlparse(str(self.uri)).query or "") and not form_upload:
        _originals["s3"](self, bucket_name, key_name)
        return
    from moto.core.authorization import ActionAuthenticatorMixin

    if ActionAuthenticatorMixin.request_count < _no_auth_count():
        ActionAuthenticatorMixin.request_count += 1
        return
    if form_upload:
        s3_forms.check_post_policy(self, str(bucket_name))
        return
    key = f"{bucket_name or '*'}/{key_name}" if key_name else (bucket_name or "*")
    request = _presigned_request_class()(
        account_id=self.current_account,
        method=self.method,
        path=self.raw_path + "?" + urlparse(str(self.uri)).query,
        data=self.data,
        body=self.raw_body,
        headers=self.headers,
        action=self._get_action(),
    )
    request.check_signature()
    request.check_action_permitted(f"arn:aws:s3:::{key}")


def _no_auth_count() -> float:
    from moto import settings

    return float(settings.INITIAL_NO_AUTH_ACTION_COUNT)


@cache
def _presigned_request_class() -> type:
    """moto's S3 request check, for SigV4 query authentication (``X-Amz-Credential`` ... in the URL)."""
    from botocore.auth import S3SigV4QueryAuth
    from botocore.awsrequest import AWSRequest
    from moto.iam.access_control import S3IAMRequest

    class PresignedS3Request(S3IAMRequest):
        def __init__(self, *, path: str, headers: Any, **kwargs: Any) -> None:
            self._query = dict(parse_qsl(urlparse(path).query, keep_blank_values=True))
            signed = {
                **dict(headers.items()),
                "Authorization": f"AWS4-HMAC-SHA256 Credential={self._query.get('X-Amz-Credential', '')}, "
                f"SignedHeaders=host, Signature={self._query.get('X-Amz-Signature', '')}",
            }
            if "X-Amz-Security-Token" in self._query:
                signed["X-Amz-Security-Token"] = self._query["X-Amz-Security-Token"]
            super().__init__(path=path, headers=signed, **kwargs)

        def check_signature(self) -> None:
            try:
                signed_at = datetime.strptime(self._query["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
                expires = int(self._query["X-Amz-Expires"])
            except (KeyError, ValueError):
                self._raise_access_denied()
            if not 0 < expires <= MAX_PRESIGNED_SECONDS or datetime.now(UTC) > signed_at + timedelta(seconds=expires):
                self._raise_access_denied()  # S3: "Request has expired"
            parts = urlparse(self._path)  # as sent: the query keeps the encoding it was signed with
            unsigned = "&".join(p for p in parts.query.split("&") if not p.startswith("X-Amz-Signature="))
            request = AWSRequest(
                method=self._method,
                url=f"http://{self._headers['Host']}{parts.path}?{unsigned}",
                headers={"host": self._headers["Host"]},
            )
            request.context["timestamp"] = self._query["X-Amz-Date"]
            auth = S3SigV4QueryAuth(self._access_key.create_credentials(), "s3", self._region, expires=expires)
            expected = auth.signature(auth.string_to_sign(request, auth.canonical_request(request)), request)
            if not hmac.compare_digest(expected, self._query.get("X-Amz-Signature", "")):
                self._raise_signature_does_not_match()

    return PresignedS3Request


def _event_bus_resource(self: Any) -> str:
    """The bus a ``PutEvents`` (or a rule call) names; entries for several buses are checked as "*"."""
    body = _body(self)
    buses = {str(e.get("EventBusName") or "default") for e in body.get("Entries", []) if isinstance(e, dict)}
    if not buses and "EventBusName" in body:
        buses = {str(body["EventBusName"])}
    if len(buses) != 1:
        return "*"
    bus = buses.pop()
    return bus if bus.startswith("arn:") else f"arn:aws:events:{self.region}:{self.current_account}:event-bus/{bus}"


def enforced() -> bool:
    """Whether moto checks signatures and policies now (the local stack switches it on once deployed)."""
    from moto import settings

    return not math.isinf(settings.INITIAL_NO_AUTH_ACTION_COUNT)


def may(headers: dict[str, str], action: str, resource: str) -> bool:
    """Whether the key that signed a request (by its headers) may do ``action`` on ``resource``."""
    from moto.iam.access_control import IAMPolicy, PermissionResult, create_access_key

    authorization = headers.get("Authorization", "")
    access_key_id = authorization.partition("Credential=")[2].partition("/")[0]
    if not access_key_id:
        return False
    try:
        key = create_access_key(account_id=ACCOUNT, partition="aws", access_key_id=access_key_id, headers=headers)
    except Exception:  # an unknown key may do nothing
        return False
    results = [IAMPolicy(p).is_action_permitted(action, resource) for p in key.collect_policies()]
    return PermissionResult.PERMITTED in results and PermissionResult.DENIED not in results


def create_roles(plan: LocalPlan, iam: Any) -> None:
    """The template's roles, with their inline policies (AWS managed ones are named, not attached:
    moto does not load them, and they only cover CloudWatch Logs and X-Ray, which nothing here calls)."""
    for role in plan.roles.values():
        iam.create_role(RoleName=role.name, AssumeRolePolicyDocument=json.dumps(_trusting_the_stack(role.trust_policy)))
        for name, document in role.policies.items():
            # SAM's policy templates carry no Version; IAM reads them as 2008-10-17, which moto refuses and
            # which differs only in policy variables (none is used here).
            versioned = {"Version": "2012-10-17", **document}
            iam.put_role_policy(RoleName=role.name, PolicyName=name, PolicyDocument=json.dumps(versioned))


def _trusting_the_stack(trust: dict[str, Any]) -> dict[str, Any]:
    """The role's trust policy, with the local stack's administrator beside the service principals: here
    the local stack plays Lambda and Step Functions when it assumes a role for them."""
    statements = []
    for statement in trust.get("Statement", []):
        principal = {**statement.get("Principal", {}), "AWS": ADMIN_ARN}
        statements.append({**statement, "Principal": principal})
    return {**trust, "Statement": statements}


def interpreter_key() -> tuple[str, str]:
    """The access key moto's Step Functions interpreter signs its calls with."""
    from moto.stepfunctions.parser.asl.utils.boto_client import boto_client_for

    credentials = boto_client_for(region=REGION, service="sts")._request_signer._credentials  # type: ignore[attr-defined]
    return str(credentials.access_key), str(credentials.secret_key)


def give_the_interpreter_its_role(plan: LocalPlan, iam: Any) -> None:
    """Make the interpreter's key belong to a user with the state machine roles' policies.

    moto's interpreter signs every machine's calls with one key, so with two machines (jobs, campaigns)
    the local check is the union of their roles; ``tests/infra`` holds each role to what its machine calls.
    """
    from moto.iam.models import iam_backends

    user = "revoice-state-machines-interpreter"
    iam.create_user(UserName=user)
    for machine in plan.state_machines.values():
        role = next(r for r in plan.roles.values() if r.arn == machine.role)
        for name, document in role.policies.items():
            versioned = {"Version": "2012-10-17", **document}
            policy = f"{role.name}-{name}"[:128]
            iam.put_user_policy(UserName=user, PolicyName=policy, PolicyDocument=json.dumps(versioned))
    iam.create_access_key(UserName=user)
    key = iam_backends[ACCOUNT]["aws"].get_user(user).access_keys[0]
    key.access_key_id, key.secret_access_key = interpreter_key()


def create_admin(iam: Any) -> dict[str, str]:
    """An administrator's key for the local stack's own calls; returned as environment variables."""
    iam.create_user(UserName=ADMIN_USER)
    iam.put_user_policy(UserName=ADMIN_USER, PolicyName="administrator", PolicyDocument=json.dumps(ADMIN_POLICY))
    key = iam.create_access_key(UserName=ADMIN_USER)["AccessKey"]
    return {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}


def enforce(moto_url: str) -> None:
    """From now on every request must be signed by a known key and allowed by its policies."""
    httpx.post(f"{moto_url}/moto-api/reset-auth", content=b"0").raise_for_status()


def relax(moto_url: str) -> None:
    httpx.post(f"{moto_url}/moto-api/reset-auth", content=b"inf").raise_for_status()


def role_credentials(sts: Any, role_arn: str, session_name: str) -> dict[str, str]:
    """What Lambda puts in an execution environment: the role's temporary credentials."""
    credentials = sts.assume_role(RoleArn=role_arn, RoleSessionName=session_name[:64])["Credentials"]
    return {
        "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
        "AWS_SESSION_TOKEN": credentials["SessionToken"],
    }
