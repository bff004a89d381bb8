"""The Lambda package as ``make build`` (``sam build``) makes it: what it holds, how big it is, and whether
each handler imports in a clean interpreter of the runtime's Python with only its own environment.

The sizes are printed at the end of the run (see ``tests/summary.py``).
"""

from __future__ import annotations

import shutil
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from revoice_local import package
from revoice_local.stack.template import plan
from tests.summary import record

FUNCTIONS = package.functions()
PYPROJECT = tomllib.loads((package.ROOT / "pyproject.toml").read_text())["project"]
RUNTIME_PROVIDES = {"boto3", "botocore"}  # what Lambda's Python runtime ships with


def _built(where: Path) -> Path:
    if not where.exists():
        pytest.fail(f"{where} is missing: run `make build`")
    return where


def test_the_requirements_pin_every_runtime_dependency_the_project_declares() -> None:
    pins = package.pinned()
    for spec in PYPROJECT["dependencies"]:
        requirement = Requirement(spec)
        name = package.normalise(requirement.name)
        if name in RUNTIME_PROVIDES:
            runtime = package.pinned(package.RUNTIME_REQUIREMENTS)
            assert requirement.specifier.contains(runtime[name]), f"{name}: the local runtime's pin breaks {spec}"
            continue
        assert name in pins, f"functions/requirements.txt does not pin {name}"
        assert requirement.specifier.contains(pins[name]), f"{name}=={pins[name]} does not satisfy {spec}"


def test_the_development_venv_runs_exactly_the_pinned_versions() -> None:
    """What the tests import is what deploys (make installs the dev venv with the pins as constraints)."""
    for name, version in package.pinned().items():
        assert metadata.version(name) == version, (
            f"{name}: the venv has {metadata.version(name)}, the package {version}"
        )


def test_a_requirement_that_is_not_pinned_is_refused(tmp_path: Path) -> None:
    loose = tmp_path / "requirements.txt"
    loose.write_text("pydantic>=2\n")
    with pytest.raises(package.BuildError, match="not pinned"):
        package.pinned(loose)


@pytest.mark.parametrize("logical_id", FUNCTIONS)
def test_each_deployable_package_is_small_and_holds_only_what_lambda_needs(
    logical_id: str, request: pytest.FixtureRequest
) -> None:
    report = package.inspect(logical_id, _built(package.DEPLOY_BUILD) / logical_id)
    record(
        request,
        "Lambda packages (unzipped; Lambda's limit 250 MB, our target 60 MB)",
        {
            "function": logical_id,
            "MB": f"{report.megabytes:.1f}",
            "distributions": len(report.distributions),
            "path": str(report.path),
        },
    )
    assert report.unzipped_bytes < package.LAMBDA_SIZE_LIMIT
    assert report.unzipped_bytes < package.SIZE_TARGET, f"{report.megabytes} MB is over our 60 MB target"
    assert report.development_only == []
    assert report.distributions == package.pinned(), "the package holds other distributions than the pins"
    sources = {p.relative_to(package.FUNCTIONS): p.read_bytes() for p in (package.FUNCTIONS / "revoice").rglob("*.py")}
    shipped = {p.relative_to(report.path): p.read_bytes() for p in (report.path / "revoice").rglob("*.py")}
    assert shipped == sources, "the package holds other code than functions/: run `make build`"


@pytest.mark.parametrize("logical_id", FUNCTIONS)
def test_each_deployable_package_is_built_for_the_templates_architecture(logical_id: str) -> None:
    """arm64: pydantic_core's compiled module must be the aarch64 wheel, never this machine's."""
    (compiled,) = (_built(package.DEPLOY_BUILD) / logical_id / "pydantic_core").glob("_pydantic_core.*.so")
    assert "aarch64" in compiled.name
    assert compiled.read_bytes()[18:20] == b"\xb7\x00"  # ELF e_machine: EM_AARCH64


@pytest.mark.parametrize("logical_id", FUNCTIONS)
def test_each_package_ships_bytecode_of_the_runtimes_python(logical_id: str) -> None:
    """Lambda's file system is read-only: bytecode not shipped is compiled again on every cold start."""
    root = _built(package.DEPLOY_BUILD) / logical_id
    tag = package.lambda_runtime().replace("python", "cpython-").replace(".", "")
    sources = list(root.rglob("*.py"))
    assert len(sources) > 500  # the dependencies' modules too, not only ours
    for source in sources:
        compiled = source.parent / "__pycache__" / f"{source.stem}.{tag}.pyc"
        assert compiled.exists(), f"no {compiled.name} for {source.relative_to(root)}"
        assert compiled.read_bytes()[4:8] == b"\x01\x00\x00\x00"  # an unchecked hash: no stat of the source


LOCAL = plan({"SyncApiKey": "k", "ApiToken": "t" * 16})


@pytest.mark.parametrize("logical_id", FUNCTIONS)
def test_each_handler_imports_in_a_clean_interpreter_with_only_its_own_environment(logical_id: str) -> None:
    function = LOCAL.functions[logical_id]
    where = _built(package.local_build()) / logical_id
    assert package.import_check(where, function.handler, function.environment) is None


def test_a_handler_that_imports_a_package_missing_from_the_requirements_fails_the_check(tmp_path: Path) -> None:
    copy = tmp_path / "IngestFunction"
    shutil.copytree(_built(package.local_build()) / "IngestFunction", copy)
    (copy / "revoice" / "handlers" / "needs_yaml.py").write_text(
        "import yaml\n\n\ndef handler(event, context):\n    pass\n"
    )
    error = package.import_check(copy, "revoice.handlers.needs_yaml.handler", {})
    assert error is not None
    assert "No module named 'yaml'" in error


def test_the_check_names_development_only_packages(tmp_path: Path) -> None:
    copy = tmp_path / "IngestFunction"
    shutil.copytree(_built(package.local_build()) / "IngestFunction", copy)
    (copy / "revoice_local").mkdir()
    assert package.inspect("IngestFunction", copy).development_only == ["revoice-local"]


def test_the_local_package_is_current() -> None:
    assert package.is_current(), "the local package was built from other sources: run `make build`"


def test_a_build_with_nothing_changed_does_not_run_the_sam_cli_again(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert package.is_current(package.DEPLOY_BUILD), "the deployable package is not current: run `make build`"

    def sam_build(*_: object) -> None:
        raise AssertionError("sam build ran for packages that were up to date")

    monkeypatch.setattr(package, "_sam_build", sam_build)
    package.build()
    assert "up to date" in capsys.readouterr().out


def test_a_change_to_how_the_package_is_built_makes_it_stale(monkeypatch: pytest.MonkeyPatch) -> None:
    before = package.source_digest()
    sam_pins = package.ROOT / "build" / "requirements-sam.changed.txt"  # the digest names files by their place
    sam_pins.write_text(package.SAM_REQUIREMENTS.read_text() + "# a newer SAM CLI\n")
    try:
        monkeypatch.setattr(package, "SAM_REQUIREMENTS", sam_pins)
        assert package.source_digest() != before
        assert not package.is_current()
    finally:
        sam_pins.unlink()
