"""The local stack: moto (real Step Functions interpreter) + the sync. labs emulator + the template.

``with LocalStack() as stack:`` starts a moto server and an emulator on loopback, points boto3 at moto,
deploys ``infra/template.yaml`` into it with each function's role, and runs each function from the
package ``make build`` made, in execution environments of its own (:mod:`revoice_local.stack.runtime`),
with IAM enforced. What moto cannot do is stood in for from the template too: EventBridge rules on
execution status changes are delivered by a watcher thread that reads the rule patterns from the template.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
import httpx
from botocore.config import Config

from revoice.aws.tables import SlotTable
from revoice.pipeline import layout
from revoice.pipeline.slots import GENERATIONS, GenerationSlots
from revoice_local import package
from revoice_local.emulator.config import EmulatorConfig
from revoice_local.emulator.server import EmulatorServer
from revoice_local.stack import iam, lambda_seam, moto_seams
from revoice_local.stack.deploy import deploy
from revoice_local.stack.http_api import HttpApiRelay
from revoice_local.stack.moto_server import LocalMotoServer
from revoice_local.stack.runtime import MAX_ENVIRONMENTS, LambdaRuntime, WorkerFault
from revoice_local.stack.template import ACCOUNT, REGION, LocalPlan
from revoice_local.stack.xray import XRayDaemon
from revoice_local.target import Target

AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}
log = logging.getLogger(__name__)
LOCAL_PARAMETERS = {
    "PollIntervalSeconds": 1,
    "TtsPollIntervalSeconds": 1,
    "CallbackTimeoutSeconds": 5,
    "SlotWaitSeconds": 1,
    "MaxSlotWaits": 5,
    "GenerationWaitSeconds": 20,
    "MaxGenerationWaits": 120,
    "SyncReadTimeoutSeconds": 4,
    "NotifyTrustedHosts": "127.0.0.1,localhost",  # the local receivers are on loopback, over http
    "NotifyRetrySeconds": 20,
    "SyncBatchPollSeconds": 1,
}


@dataclass(frozen=True)
class JobEnd:
    job_id: str
    status: str
    result: dict[str, Any] | None
    error: dict[str, Any] | None


class LocalStack:
    def __init__(
        self,
        emulator: EmulatorConfig | None = None,
        parameters: dict[str, Any] | None = None,
        stack_name: str = "revoice-local",
        prewarm: tuple[str, ...] | None = None,  # the functions whose environments start ahead (None: all)
        function_log_level: int = logging.DEBUG,
    ) -> None:
        self._emulator_config = emulator or EmulatorConfig(time_scale=0.1)
        self._parameters = parameters or {}
        self.stack_name = stack_name
        self._prewarm = prewarm
        self._function_log_level = function_log_level
        self._saved_env: dict[str, str] = {}
        self._stop = threading.Event()
        self._ended: queue.Queue[str] = queue.Queue()
        self._ends: dict[str, threading.Event] = {}  # execution ARN -> set once moto reports its end
        self._ends_lock = threading.Lock()

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> LocalStack:
        packages = package.ensure_local_build()
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        logging.getLogger("moto.stepfunctions").setLevel(logging.ERROR)  # it warns on every Fail state
        # ...and logs an ERROR whenever a Choice's IsPresent finds nothing, which is how the ASL asks
        # "no voice / no generation yet?": not an error at all.
        logging.getLogger("moto.stepfunctions.parser.asl.component.eval_component").setLevel(logging.CRITICAL)
        logging.getLogger("revoice.lambda").setLevel(self._function_log_level)  # the functions' own log lines
        iam.install_resource_seams()
        self.moto = LocalMotoServer().start()
        self.aws_url = self.moto.url
        # moto's backends live in the process, not in the server: start every stack from a clean account.
        iam.relax(self.aws_url)
        httpx.post(f"{self.aws_url}/moto-api/reset").raise_for_status()
        configured = httpx.post(
            f"{self.aws_url}/moto-api/config", json={"stepfunctions": {"execute_state_machine": True}}
        )
        configured.raise_for_status()
        self.emulator = EmulatorServer(self._emulator_config).start()
        self.xray = XRayDaemon()
        self.published_events: list[dict[str, Any]] = []  # every PutEvents entry, as the functions sent it
        self.api = HttpApiRelay()
        self.api_token = secrets.token_urlsafe(24)
        # MOTO_PORT: moto's interpreter calls Lambda through its own server at localhost:$MOTO_PORT.
        self._saved_env = dict(os.environ)  # restored on stop
        os.environ.update({**AWS_ENV, "AWS_ENDPOINT_URL": self.aws_url, "MOTO_PORT": str(self.moto.port)})
        boto3.setup_default_session()
        parameters = {
            **LOCAL_PARAMETERS,
            "SyncApiKey": self.emulator.config.api_key,
            "SyncBaseUrl": self.emulator.url,
            "SyncWebhookSecret": self.emulator.config.webhook_secret,
            "WebhookBaseUrl": self.api.url,
            "ApiToken": self.api_token,
            "PlanConcurrency": self.emulator.config.limits.concurrency,  # the emulated plan's own limit
            **self._parameters,
        }
        self.plan: LocalPlan = deploy(parameters, self.stack_name)
        # From here on the stack's own calls sign as an administrator, and the functions as their roles.
        self.admin = iam.create_admin(boto3.client("iam"))
        iam.give_the_interpreter_its_role(self.plan, boto3.client("iam"))
        os.environ.pop("AWS_SESSION_TOKEN", None)
        os.environ.update(self.admin)
        boto3.setup_default_session()
        # Environments start side by side (every function's at once when the stack prewarms them), each
        # assuming its role: a connection each, not urllib3's "pool is full" warnings on the user's console.
        starting_at_once = len(self.plan.functions) * MAX_ENVIRONMENTS
        sts = boto3.client("sts", config=Config(max_pool_connections=starting_at_once))
        self.runtime = LambdaRuntime(
            python=package.lambda_python(),
            packages=packages,
            runtime_dir=package.runtime_dir(),
            aws_endpoint=self.aws_url,
            region=REGION,
            credentials=lambda role, session: iam.role_credentials(sts, role, session),
            logical_ids={function.name: logical_id for logical_id, function in self.plan.functions.items()},
            xray=self.xray,
        )
        lambda_seam.install(self.runtime)
        iam.enforce(self.aws_url)
        self.api.configure(self.plan)
        self.api.start()
        self.bucket = str(self.plan.outputs["JobsBucketName"])
        self.state_machine_arn = str(self.plan.outputs["StateMachineArn"])
        self.s3 = boto3.client("s3")
        self.sfn = boto3.client("stepfunctions")
        self.dynamodb = boto3.resource("dynamodb")
        warmed = tuple(self.plan.functions) if self._prewarm is None else self._prewarm
        self.runtime.prewarm([self.moto_function(logical_id) for logical_id in warmed])
        moto_seams.on_execution_end(self._heard_of_an_end)
        moto_seams.on_event(self._heard_an_event)
        self._watcher = threading.Thread(target=self._deliver_status_changes, name="eventbridge-shim", daemon=True)
        self._watcher.start()
        return self

    def stop(self) -> None:
        moto_seams.remove_listener(self._heard_of_an_end)
        moto_seams.remove_listener(self._heard_an_event)
        self._stop.set()
        self._watcher.join(timeout=5)
        self.api.stop()
        self.runtime.stop()
        lambda_seam.uninstall(self.runtime)
        self.emulator.stop()
        self.xray.close()
        iam.relax(self.aws_url)
        self.moto.stop()
        os.environ.clear()
        os.environ.update(self._saved_env)
        boto3.DEFAULT_SESSION = None

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    # -- using it --------------------------------------------------------------------------------

    def target(self) -> Target:
        """How the command line reaches this stack (saved by ``revoice local``)."""
        return Target(
            name=self.stack_name,
            bucket=self.bucket,
            jobs_table=str(self.plan.outputs["JobsTableName"]),
            voices_table=str(self.plan.outputs["VoicesTableName"]),
            state_machine_arn=self.state_machine_arn,
            cleanup_function=str(self.plan.outputs["CleanupFunctionName"]),
            api_url=self.api.url,
            sync_base_url=self.emulator.url,
            aws_endpoint=self.aws_url,
            sync_api_key=self.emulator.config.api_key,
            api_token=self.api_token,
            aws_access_key_id=self.admin["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=self.admin["AWS_SECRET_ACCESS_KEY"],
        )

    def console_url(self, job_id: str | None = None) -> str:
        """The web console, signed in (the token rides in the fragment: never sent, dropped from the
        address at once), on ``job_id``'s page if given."""
        page = f"&job={job_id}" if job_id else ""
        return f"{self.api.url}/console#token={self.api_token}{page}"

    def execution_arn(self, job_id: str, machine: str = "StateMachineArn") -> str:
        """An execution's ARN by its name, on the job state machine or another the outputs name."""
        return str(self.plan.outputs[machine]).replace(":stateMachine:", ":execution:") + f":{job_id}"

    def job_table(self) -> Any:
        return self.dynamodb.Table(str(self.plan.outputs["JobsTableName"]))

    def invoke(self, function: str, event: Any) -> dict[str, Any]:
        """Call one of the template's functions (by logical id) as ``aws lambda invoke`` would; its answer.

        A function that raised is an error here too, with the function's own error document.
        """
        answer = boto3.client("lambda").invoke(
            FunctionName=self.plan.functions[function].name, Payload=json.dumps(event).encode()
        )
        payload = json.loads(answer["Payload"].read() or b"null")
        if "FunctionError" in answer:
            raise RuntimeError(f"{function} failed: {payload}")
        return dict(payload)

    def moto_function(self, logical_id: str) -> Any:
        """moto's record of one of the template's functions (what its execution environments run)."""
        from moto.awslambda.models import lambda_backends

        return lambda_backends[ACCOUNT][REGION].get_function(self.plan.functions[logical_id].name)

    @contextmanager
    def configured(self, logical_id: str, **changes: Any) -> Iterator[None]:
        """The function with a changed configuration, as ``aws lambda update-function-configuration``
        changes it (new execution environments pick it up), restored afterwards."""
        lambdas = boto3.client("lambda")
        name = self.plan.functions[logical_id].name
        before = lambdas.get_function_configuration(FunctionName=name)
        lambdas.update_function_configuration(FunctionName=name, **changes)
        try:
            yield
        finally:
            lambdas.update_function_configuration(
                FunctionName=name,
                Environment={"Variables": dict(before["Environment"].get("Variables", {}))},
                Timeout=before["Timeout"],
                MemorySize=before["MemorySize"],
            )

    def crash_after(self, target: str, times: int, functions: set[str] | None = None) -> WorkerFault:
        """The next ``times`` calls of ``target`` ("module:Class.method") succeed, then their Lambda dies."""
        return self.runtime.inject(WorkerFault(target, "crash_after", times), functions)

    def stall(self, target: str, seconds: float, times: int, functions: set[str] | None = None) -> WorkerFault:
        """The next ``times`` calls of ``target`` first wait ``seconds`` (to outlast a function's Timeout)."""
        return self.runtime.inject(WorkerFault(target, "stall", times, seconds), functions)

    def generation_slots(self) -> GenerationSlots:
        table = self.dynamodb.Table(str(self.plan.outputs["SlotsTableName"]))
        return GenerationSlots(SlotTable(table, self.emulator.config.limits.concurrency, GENERATIONS))

    def job(self, job_id: str) -> dict[str, Any] | None:
        item = self.job_table().get_item(Key={"jobId": job_id}, ConsistentRead=True).get("Item")
        return dict(item) if item else None

    def read_json(self, key: str) -> dict[str, Any] | None:
        try:
            return dict(json.loads(self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()))
        except self.s3.exceptions.NoSuchKey:
            return None

    def wait_for_job(self, job_id: str, timeout: float = 120.0) -> JobEnd:
        """Block until the job has a result or an error document (or ``timeout`` passes).

        Woken by moto's report of the execution's end; until then the documents are looked at once a
        second (a job turned away before it has an execution writes only its error document), after it
        every 0.1 s (the failure recorder writes error.json after the end).
        """
        deadline = time.monotonic() + timeout
        ended = self._end_of(self.execution_arn(job_id))
        while True:
            result = self.read_json(layout.result_key(job_id))
            error = self.read_json(layout.error_key(job_id))
            if result or error:
                status = self._execution_status(job_id)
                if status != "RUNNING":
                    return JobEnd(job_id, status or "NONE", result, error)
            if time.monotonic() > deadline:
                status = self._execution_status(job_id)
                raise TimeoutError(f"job {job_id} did not end within {timeout:.0f}s (execution: {status})")
            if ended.is_set():
                time.sleep(0.1)
            else:
                ended.wait(timeout=1.0)

    def _end_of(self, execution_arn: str) -> threading.Event:
        with self._ends_lock:
            return self._ends.setdefault(execution_arn, threading.Event())

    def _execution_status(self, job_id: str) -> str | None:
        try:
            return str(self.sfn.describe_execution(executionArn=self.execution_arn(job_id))["status"])
        except self.sfn.exceptions.ExecutionDoesNotExist:
            return None

    def history(self, job_id: str, machine: str = "StateMachineArn") -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            request: dict[str, Any] = {"executionArn": self.execution_arn(job_id, machine), "maxResults": 1000}
            if token:
                request["nextToken"] = token
            page = self.sfn.get_execution_history(**request)
            events.extend(dict(event) for event in page["events"])
            token = page.get("nextToken")
            if not token:
                return events

    def state_transitions(self, job_id: str, machine: str = "StateMachineArn") -> int:
        """What Step Functions bills: one per state entered."""
        return sum(1 for event in self.history(job_id, machine) if event["type"].endswith("StateEntered"))

    # -- EventBridge stand-in --------------------------------------------------------------------

    def _heard_of_an_end(self, execution: Any) -> None:
        arn = str(execution.exec_arn)
        self._end_of(arn).set()
        self._ended.put(arn)

    def _deliver_status_changes(self) -> None:
        """EventBridge's rules on execution status changes, from the template, for the ends moto reports."""
        targets = [(logical_id, p) for logical_id, f in self.plan.functions.items() for p in f.eventbridge_patterns]
        while not self._stop.is_set():
            try:
                arn = self._ended.get(timeout=0.3)
            except queue.Empty:
                continue
            if not arn.startswith(self.state_machine_arn.replace(":stateMachine:", ":execution:") + ":"):
                continue
            try:
                event = self._status_event(arn)
            except Exception:  # the server may be stopping
                log.debug("describing %s failed", arn, exc_info=True)
                continue
            for logical_id, pattern in targets:
                if matches(pattern, event):
                    self.runtime.invoke_async(self.moto_function(logical_id), event)

    def _heard_an_event(self, entry: dict[str, Any]) -> None:
        """An event put on a bus (the functions' job ends): to the functions whose template rules match it,
        asynchronously, as EventBridge invokes Lambda."""
        self.published_events.append(entry)
        event = _envelope(
            str(entry.get("Source")),
            str(entry.get("DetailType")),
            json.loads(entry.get("Detail") or "{}"),
            entry.get("Resources", []),
            entry["EventId"],
        )
        for logical_id, function in self.plan.functions.items():
            if any(matches(pattern, event) for pattern in function.eventbridge_patterns):
                self.runtime.invoke_async(self.moto_function(logical_id), event)

    def _status_event(self, execution_arn: str) -> dict[str, Any]:
        described = self.sfn.describe_execution(executionArn=execution_arn)
        return _envelope(
            "aws.states",
            "Step Functions Execution Status Change",
            {
                "executionArn": execution_arn,
                "stateMachineArn": described["stateMachineArn"],
                "name": described["name"],
                "status": described["status"],
                "startDate": int(described["startDate"].timestamp() * 1000),
                "input": described.get("input"),
                "output": described.get("output"),
                "error": described.get("error"),
                "cause": described.get("cause"),
            },
            [execution_arn],
        )


def _envelope(
    source: str, detail_type: str, detail: dict[str, Any], resources: list[str], event_id: str | None = None
) -> dict[str, Any]:
    """An event as EventBridge hands it to a rule's target."""
    return {
        "version": "0",
        "id": event_id or str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": source,
        "account": "123456789012",
        "region": REGION,
        "time": datetime.now(UTC).isoformat(),
        "resources": resources,
        "detail": detail,
    }


def matches(pattern: Any, event: Any) -> bool:
    """EventBridge's matching for the pattern forms the template uses: value lists and nested objects."""
    if isinstance(pattern, dict):
        return isinstance(event, dict) and all(k in event and matches(v, event[k]) for k, v in pattern.items())
    if isinstance(pattern, list):
        return event in pattern
    return bool(pattern == event)
