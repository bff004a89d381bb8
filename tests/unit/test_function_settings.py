"""Each function validates its own environment at import: only what it needs, all of it in the template."""

from __future__ import annotations

from typing import Any

import pytest

from revoice.handlers.runtime import Bucket, FunctionSettings, Jobs, RunDefaults, Slots, SyncApi
from tests.handler_modules import PLAN, import_handler_module

FUNCTIONS = PLAN.functions


def _settings_of(function: str, monkeypatch: pytest.MonkeyPatch) -> type[FunctionSettings]:
    settings = import_handler_module(function, monkeypatch).settings
    assert isinstance(settings, FunctionSettings)
    return type(settings)


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_every_variable_a_function_requires_is_in_its_template_environment(
    function: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = _settings_of(function, monkeypatch)
    required = {name.upper() for name, field in model.model_fields.items() if field.is_required()}
    assert required <= set(FUNCTIONS[function].environment)


@pytest.mark.parametrize("function", ["PushFunction", "SpeechFunction"])
def test_a_step_that_does_not_start_jobs_carries_no_job_defaults(
    function: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = _settings_of(function, monkeypatch)
    assert issubclass(model, Jobs)
    assert issubclass(model, SyncApi)
    assert not issubclass(model, RunDefaults)


def test_a_missing_variable_fails_at_load_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    class Needs(Jobs, SyncApi):
        pass

    monkeypatch.delenv("JOBS_TABLE", raising=False)
    monkeypatch.setenv("SYNC_API_KEY_SECRET_ARN", "arn:aws:secretsmanager:us-east-1:123456789012:secret:k")
    with pytest.raises(RuntimeError, match="JOBS_TABLE: field required"):
        Needs.load()


def test_a_malformed_variable_fails_at_load_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOBS_TABLE", "jobs")
    monkeypatch.setenv("POLL_SECONDS", "soon")

    class Starts(Jobs, RunDefaults):
        pass

    with pytest.raises(RuntimeError, match="POLL_SECONDS: input should be a valid integer"):
        Starts.load()


def test_the_job_defaults_come_from_their_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLL_SECONDS", "7")
    monkeypatch.setenv("DEFAULT_MODEL", "lipsync-1.9.0-beta")
    loaded = RunDefaults.load()
    assert (loaded.run.poll_seconds, loaded.run.model) == (7, "lipsync-1.9.0-beta")


def test_every_step_handler_is_measured(monkeypatch: pytest.MonkeyPatch) -> None:
    from revoice.handlers import runtime
    from revoice.pipeline.contract import Step

    monkeypatch.setattr(runtime, "MEASURED_STEPS", {})
    for function in FUNCTIONS:
        _settings_of(function, monkeypatch)
    assert set(runtime.MEASURED_STEPS) == set(Step) - {Step.QUEUED, Step.DONE}


class _Made:
    """The clients ``provision`` asked the runtime for, by kind."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, fail: bool = False) -> None:
        from revoice.handlers import runtime

        self.made: list[str] = []

        def making(kind: str) -> Any:
            def make(*args: Any) -> object:
                if fail:
                    raise ConnectionError("no endpoint")
                self.made.append(":".join((kind, *map(str, args))))
                return object()

            return make

        monkeypatch.setattr(runtime, "_s3_client", making("s3"))
        monkeypatch.setattr(runtime, "_dynamodb_table", making("table"))
        monkeypatch.setattr(runtime, "_boto3_client", making("client"))
        monkeypatch.setattr(runtime, "secret", making("secret"))
        monkeypatch.setattr(runtime, "sync_client", lambda settings: making("sync")())


class _Step(Bucket, Jobs, Slots, SyncApi):
    pass


def _step_environment(monkeypatch: pytest.MonkeyPatch, initialization: str) -> None:
    monkeypatch.setenv("AWS_LAMBDA_INITIALIZATION_TYPE", initialization)
    for name, value in {
        "JOBS_BUCKET": "jobs-bucket",
        "JOBS_TABLE": "jobs",
        "SLOTS_TABLE": "slots",
        "SYNC_API_KEY_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:k",
    }.items():
        monkeypatch.setenv(name, value)


def test_a_provisioned_environment_makes_the_clients_its_settings_name_at_init(monkeypatch: pytest.MonkeyPatch) -> None:
    made = _Made(monkeypatch)
    _step_environment(monkeypatch, "provisioned-concurrency")
    _Step.load()
    assert sorted(made.made) == [
        "client:stepfunctions",
        "s3",
        "secret:arn:aws:secretsmanager:us-east-1:123456789012:secret:k",
        "sync",
        "table:jobs",
        "table:slots",
    ]


def test_an_on_demand_environment_makes_its_clients_on_first_use(monkeypatch: pytest.MonkeyPatch) -> None:
    made = _Made(monkeypatch)
    _step_environment(monkeypatch, "on-demand")
    _Step.load()
    assert made.made == []


def test_a_client_that_cannot_be_made_at_init_does_not_fail_the_init(monkeypatch: pytest.MonkeyPatch) -> None:
    _Made(monkeypatch, fail=True)
    _step_environment(monkeypatch, "provisioned-concurrency")
    settings = _Step.load()
    assert settings.jobs_table == "jobs"
