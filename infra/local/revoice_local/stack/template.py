"""Read ``infra/template.yaml`` into what the local deployer needs, so the two cannot drift.

The SAM template is parsed with samtranslator's own YAML loader (it knows the ``!Ref`` short forms);
intrinsics are resolved here against deterministic local names, because samtranslator's resolver
only knows parameters, not resource attributes. Anything this resolver does not know fails loudly.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from samtranslator.yaml_helper import yaml_parse

INFRA = Path(__file__).resolve().parents[3]
TEMPLATE = INFRA / "template.yaml"
REGION = "us-east-1"
ACCOUNT = "123456789012"


@dataclass
class LocalFunction:
    logical_id: str
    name: str
    arn: str
    handler: str
    timeout: int
    memory: int
    environment: dict[str, str]
    runtime: str = "python3.12"
    tracing: str = "PassThrough"  # Tracing: Active (SAM) is TracingConfig Mode Active
    role: str = ""
    http_routes: list[tuple[str, str]] = field(default_factory=list)
    eventbridge_patterns: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class LocalStateMachine:
    logical_id: str
    name: str
    arn: str
    definition: str
    type: str
    role: str = ""


@dataclass
class LocalRole:
    """A role of the SAM-translated template: what SAM's policy templates expand to."""

    logical_id: str
    name: str
    arn: str
    trust_policy: dict[str, Any]
    policies: dict[str, Any]
    managed_policies: list[str]


@dataclass
class LocalPlan:
    stack_name: str
    buckets: dict[str, dict[str, Any]]
    tables: dict[str, dict[str, Any]]
    secrets: dict[str, dict[str, Any]]
    functions: dict[str, LocalFunction]
    state_machines: dict[str, LocalStateMachine]
    outputs: dict[str, Any]
    roles: dict[str, LocalRole] = field(default_factory=dict)


class UnsupportedIntrinsic(ValueError):
    pass


NO_VALUE = object()  # what ``!Ref AWS::NoValue`` resolves to: the key or item is left out


class Resolver:
    """Resolves ``Ref``, ``Fn::GetAtt``, ``Fn::Sub``, ``Fn::Join``, ``Fn::Select``, ``Fn::Split``, ``Fn::If``
    and the condition functions; ``AWS::NoValue`` drops what it is given to."""

    def __init__(self, refs: dict[str, Any], attributes: dict[str, Any], conditions: dict[str, bool]) -> None:
        self.refs, self.attributes, self.conditions = refs, attributes, conditions

    def __call__(self, value: Any) -> Any:
        if isinstance(value, list):
            return [item for item in (self(v) for v in value) if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return NO_VALUE if arg == "AWS::NoValue" else self._lookup(self.refs, arg)
            if key == "Fn::GetAtt":
                name = ".".join(arg) if isinstance(arg, list) else arg
                return self._lookup(self.attributes, name)
            if key == "Fn::Sub":
                return self._sub(arg)
            if key == "Fn::Join":
                return str(arg[0]).join(str(self(item)) for item in self(arg[1]))
            if key == "Fn::Select":
                return self(arg[1])[int(self(arg[0]))]
            if key == "Fn::Split":
                return str(self(arg[1])).split(str(arg[0]))
            if key == "Fn::If":
                return self(arg[1] if self.conditions[arg[0]] else arg[2])
            if key == "Fn::Equals":
                return self(arg[0]) == self(arg[1])
            if key == "Fn::Not":
                return not self(arg[0])
            if key == "Fn::And":
                return all(self(item) for item in arg)
            if key == "Fn::Or":
                return any(self(item) for item in arg)
            if key.startswith("Fn::") or key == "Condition":
                raise UnsupportedIntrinsic(f"the local deployer does not support {key}")
        resolved = {key: self(item) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not NO_VALUE}

    def _lookup(self, table: dict[str, Any], name: str) -> Any:
        if name not in table:
            raise UnsupportedIntrinsic(f"the local deployer cannot resolve {name!r}")
        return table[name]

    def _sub(self, arg: Any) -> str:
        text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], {k: self(v) for k, v in arg[1].items()})
        out, rest = [], text
        while "${" in rest:
            before, _, after = rest.partition("${")
            name, _, rest = after.partition("}")
            out.append(before)
            if name in extra:
                out.append(str(extra[name]))
            elif "." in name and not name.startswith("AWS::"):
                out.append(str(self._lookup(self.attributes, name)))
            else:
                out.append(str(self._lookup(self.refs, name)))
        return "".join(out) + rest


def stack_id(stack_name: str) -> str:
    """A CloudFormation stack id, the same for the same stack name (the local stack's "deploy")."""
    return f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{stack_name}/{uuid.uuid5(uuid.NAMESPACE_URL, stack_name)}"


def pseudo_parameters(stack_name: str) -> dict[str, str]:
    """What ``!Ref AWS::...`` resolves to in a stack of that name, as CloudFormation would set it."""
    return {
        "AWS::StackName": stack_name,
        "AWS::StackId": stack_id(stack_name),
        "AWS::Region": REGION,
        "AWS::AccountId": ACCOUNT,
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
    }


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    return dict(yaml_parse(path.read_text()))


def plan(
    parameters: dict[str, Any],
    stack_name: str = "revoice-local",
    path: Path = TEMPLATE,
    known_refs: dict[str, str] | None = None,
) -> LocalPlan:
    """Everything the local stack creates, resolved from the template with these parameter values.

    ``known_refs`` gives the real ``Ref`` of resources whose ARN only exists once created (secrets).
    """
    template = load_template(path)
    params = {name: spec.get("Default") for name, spec in template.get("Parameters", {}).items()}
    params.update(parameters)
    missing = [name for name, value in params.items() if value is None]
    if missing:
        raise ValueError(f"template parameters without a value: {', '.join(missing)}")
    resources: dict[str, dict[str, Any]] = template["Resources"]
    refs: dict[str, Any] = {k: str(v) for k, v in params.items()}
    refs.update(pseudo_parameters(stack_name))
    attributes: dict[str, Any] = {}
    early = Resolver(refs, attributes, {})
    for logical_id, resource in resources.items():
        kind = resource["Type"]
        name = f"{stack_name}-{logical_id}"
        if kind == "AWS::S3::Bucket":
            name = early(resource.get("Properties", {}).get("BucketName", name.lower()))
            refs[logical_id], attributes[f"{logical_id}.Arn"] = name, f"arn:aws:s3:::{name}"
        elif kind == "AWS::DynamoDB::Table":
            refs[logical_id] = name
            attributes[f"{logical_id}.Arn"] = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"
        elif kind == "AWS::Serverless::Function":
            refs[logical_id] = name
            attributes[f"{logical_id}.Arn"] = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
        elif kind == "AWS::Serverless::StateMachine":
            name = early(resource.get("Properties", {}).get("Name", name))
            arn = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{name}"
            refs[logical_id], attributes[f"{logical_id}.Arn"], attributes[f"{logical_id}.Name"] = arn, arn, name
        elif kind == "AWS::SecretsManager::Secret":
            refs[logical_id] = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{name}"
        elif kind == "AWS::Serverless::HttpApi":
            refs[logical_id] = f"local{logical_id.lower()}"
        else:  # not created locally (queues, topics, log groups, alarms...), but outputs may name them
            service = kind.split("::")[1].lower()
            refs[logical_id] = name
            attributes[f"{logical_id}.Arn"] = f"arn:aws:{service}:{REGION}:{ACCOUNT}:{name}"
    refs.update(known_refs or {})
    conditions = {name: bool(early(cond)) for name, cond in template.get("Conditions", {}).items()}
    resolve = Resolver(refs, attributes, conditions)
    resources = {k: r for k, r in resources.items() if conditions.get(r.get("Condition", ""), True)}
    globals_fn = template.get("Globals", {}).get("Function", {})
    result = LocalPlan(stack_name, {}, {}, {}, {}, {}, {})
    for logical_id, resource in resources.items():
        kind, props = resource["Type"], resource.get("Properties", {})
        if kind == "AWS::S3::Bucket":
            result.buckets[logical_id] = {"name": refs[logical_id], **resolve(props)}
        elif kind == "AWS::DynamoDB::Table":
            result.tables[logical_id] = {"name": refs[logical_id], **resolve(props)}
        elif kind == "AWS::SecretsManager::Secret":
            result.secrets[logical_id] = {
                "name": f"{stack_name}-{logical_id}",
                "arn": refs[logical_id],
                **resolve(props),
            }
        elif kind == "AWS::Serverless::Function":
            result.functions[logical_id] = _function(logical_id, refs, attributes, globals_fn, props, resolve)
        elif kind == "AWS::Serverless::StateMachine":
            result.state_machines[logical_id] = _state_machine(logical_id, refs, attributes, props, resolve, path)
    result.outputs = {name: resolve(spec["Value"]) for name, spec in template.get("Outputs", {}).items()}
    _roles(result, path, stack_name, resolve)
    return result


@lru_cache(maxsize=4)
def _translated_resources(path: Path, text: str) -> dict[str, Any]:
    """The SAM-translated template's resources (translating takes about half a second), per template text."""
    from revoice_local.stack.translate import translated

    logging.getLogger("samtranslator.metrics.metrics").setLevel(logging.ERROR)  # "unpublished metrics"
    return dict(translated(path)["Resources"])


def _roles(result: LocalPlan, path: Path, stack_name: str, resolve: Resolver) -> None:
    """The roles SAM makes for the functions and the state machine, from the translated template."""
    resources = _translated_resources(path, path.read_text())
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        props = resolve(resource["Properties"])
        name = f"{stack_name}-{logical_id}"[:64]
        result.roles[logical_id] = LocalRole(
            logical_id=logical_id,
            name=name,
            arn=f"arn:aws:iam::{ACCOUNT}:role/{name}",
            trust_policy=props["AssumeRolePolicyDocument"],
            policies={p["PolicyName"]: p["PolicyDocument"] for p in props.get("Policies", [])},
            managed_policies=[str(arn) for arn in props.get("ManagedPolicyArns", [])],
        )
    for owners in (result.functions, result.state_machines):
        for logical_id, owner in owners.items():
            props = resources[logical_id]["Properties"]
            role = (props.get("Role") or props.get("RoleArn") or {}).get("Fn::GetAtt", [""])[0]
            if role in result.roles:
                owner.role = result.roles[role].arn


def _function(
    logical_id: str,
    refs: dict[str, Any],
    attributes: dict[str, Any],
    globals_fn: dict[str, Any],
    props: dict[str, Any],
    resolve: Resolver,
) -> LocalFunction:
    env = {
        **globals_fn.get("Environment", {}).get("Variables", {}),
        **props.get("Environment", {}).get("Variables", {}),
    }
    function = LocalFunction(
        logical_id=logical_id,
        name=refs[logical_id],
        arn=attributes[f"{logical_id}.Arn"],
        handler=props["Handler"],
        timeout=int(props.get("Timeout", globals_fn.get("Timeout", 3))),
        memory=int(props.get("MemorySize", globals_fn.get("MemorySize", 128))),
        environment={k: str(v) for k, v in resolve(env).items()},
        runtime=str(props.get("Runtime", globals_fn.get("Runtime", "python3.12"))),
        tracing=str(props.get("Tracing", globals_fn.get("Tracing", "PassThrough"))),
    )
    for event in props.get("Events", {}).values():
        if event["Type"] == "HttpApi":
            properties = resolve(event["Properties"])
            function.http_routes.append((str(properties["Method"]).upper(), str(properties["Path"])))
        elif event["Type"] in ("EventBridgeRule", "CloudWatchEvent"):
            function.eventbridge_patterns.append(resolve(event["Properties"]["Pattern"]))
    return function


def _state_machine(
    logical_id: str,
    refs: dict[str, Any],
    attributes: dict[str, Any],
    props: dict[str, Any],
    resolve: Resolver,
    path: Path,
) -> LocalStateMachine:
    definition = (path.parent / props["DefinitionUri"]).read_text()
    for key, value in resolve(props.get("DefinitionSubstitutions", {})).items():
        definition = definition.replace("${" + key + "}", str(value))
    if "${" in definition:
        raise UnsupportedIntrinsic("the state machine definition has unsubstituted ${...} placeholders")
    json.loads(definition)
    return LocalStateMachine(
        logical_id, attributes[f"{logical_id}.Name"], refs[logical_id], definition, props.get("Type", "STANDARD")
    )
