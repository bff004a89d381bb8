"""The Lambda package: built by the SAM CLI exactly as ``sam build`` builds it, checked as Lambda loads it.

``python -m revoice_local.package build`` (what ``make build`` runs) builds with the SAM CLI of
``.venv-sam`` twice, side by side: for the template's own architecture into ``.aws-sam/build`` (what
``sam deploy`` uploads), and for this machine's architecture into ``build/lambda/<arch>`` (what the
local stack runs).
Both get bytecode compiled by the runtime's Python: Lambda's file system is read-only, so bytecode that
is not shipped is compiled again on every cold start. ``build/lambda-runtime/`` holds what Lambda's
runtime itself provides: boto3, and Lambda's runtime interface client.

``python -m revoice_local.package check`` prints each function's package: its unzipped size, what it
contains, and whether its handler imports in a clean interpreter with only its own environment.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
FUNCTIONS = ROOT / "functions"
TEMPLATE = ROOT / "infra" / "template.yaml"
REQUIREMENTS = FUNCTIONS / "requirements.txt"
RUNTIME_REQUIREMENTS = ROOT / "infra" / "local" / "lambda-runtime.txt"
SAM = ROOT / ".venv-sam" / "bin" / "sam"
SAM_REQUIREMENTS = ROOT / "infra" / "requirements-sam.txt"
DEPLOY_BUILD = ROOT / ".aws-sam" / "build"
LOCAL_BUILDS = ROOT / "build" / "lambda"
RUNTIMES = ROOT / "build" / "lambda-runtime"
DIGEST_FILE = ".revoice-source-digest"
LAMBDA_SIZE_LIMIT = 250 * 1024 * 1024  # unzipped, Lambda's hard limit
SIZE_TARGET = 60 * 1024 * 1024  # ours: room for the layers and growth that real deployments add
# Never in a Lambda package: the local stack, the emulator and the tools of the dev extras.
DEVELOPMENT_ONLY = {"revoice_local", "moto", "pytest", "starlette", "uvicorn", "av", "numpy", "yaml", "hypothesis"}


class BuildError(RuntimeError):
    """The package cannot be built or checked; the message says what to do."""


@dataclass(frozen=True)
class Interpreter:
    path: str
    version: str  # "3.12"

    @property
    def runtime(self) -> str:
        return f"python{self.version}"


def lambda_runtime() -> str:
    """The functions' runtime as the template declares it (``python3.12``)."""
    from revoice_local.stack.template import load_template

    return str(load_template(TEMPLATE)["Globals"]["Function"]["Runtime"])


@cache
def lambda_python() -> Interpreter:
    """An interpreter of the runtime's Python version; this one, with a loud warning, when there is none."""
    version = lambda_runtime().removeprefix("python")
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates = [os.environ.get("REVOICE_LAMBDA_PYTHON"), shutil.which(f"python{version}")]
    candidates += [str(p) for p in sorted(pyenv.glob(f"{version}*/bin/python{version}"), reverse=True)]
    for candidate in filter(None, candidates):
        found = subprocess.run(  # noqa: S603 - an interpreter path we looked up
            [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], capture_output=True, text=True
        )
        if found.returncode == 0 and found.stdout.strip() == version:
            return Interpreter(candidate, version)
    here = f"{sys.version_info[0]}.{sys.version_info[1]}"
    print(
        f"WARNING: no Python {version} (the Lambda runtime's) found on PATH or under {pyenv}; the local "
        f"Lambda package is built for and run by Python {here} instead, which does not prove it loads on Lambda. "
        f"Install Python {version} (for example `pyenv install {version}`) or set REVOICE_LAMBDA_PYTHON.",
        file=sys.stderr,
    )
    return Interpreter(sys.executable, here)


def machine_architecture() -> str:
    return {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}[platform.machine().lower()]


def local_build() -> Path:
    return LOCAL_BUILDS / machine_architecture()


def runtime_dir(python: Interpreter | None = None) -> Path:
    return RUNTIMES / f"{(python or lambda_python()).runtime}-{machine_architecture()}"


def source_digest() -> str:
    """What the packages were built from and how: the functions' files, the template, the runtime's pins,
    the SAM CLI's pins and this module."""
    how = [TEMPLATE, RUNTIME_REQUIREMENTS, SAM_REQUIREMENTS, Path(__file__), Path(__file__).with_name("bytecode.py")]
    return _files_digest([*FUNCTIONS.rglob("*"), *how], ROOT)


def _files_digest(paths: Iterable[Path], root: Path) -> str:
    """The files' names (from ``root``) and contents; bytecode and build metadata left out."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        if path.is_file() and "__pycache__" not in path.parts and not path.name.endswith((".pyc", ".egg-info")):
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def is_current(build_dir: Path | None = None) -> bool:
    stamp = (build_dir or local_build()) / DIGEST_FILE
    return stamp.exists() and stamp.read_text() == source_digest() and runtime_dir().exists()


# -- building --------------------------------------------------------------------------------------


def build(*, deployable: bool = True) -> None:
    """Build the local package (and the deployable one), compile its bytecode, install the runtime."""
    if not SAM.exists():
        raise BuildError(f"the SAM CLI is not installed at {SAM}: run `make build`")
    python = lambda_python()
    _install_runtime(python)
    runtime_matches = python.runtime == lambda_runtime()
    if deployable and runtime_matches and is_current(DEPLOY_BUILD) and is_current():
        print("The Lambda packages are up to date with functions/ and the template.")
        return
    builds = []
    if deployable and runtime_matches:  # `sam build` in the project, as a user deploying runs it
        builds.append(_SamBuild(DEPLOY_BUILD, ROOT, ROOT / ".aws-sam" / "cache", TEMPLATE, {}, "/var/task"))
    elif deployable:
        print(f"WARNING: the deployable package needs Python {lambda_runtime()}; skipped", file=sys.stderr)
    target = local_build()
    builds.append(
        _SamBuild(
            target,
            LOCAL_BUILDS,
            ROOT / "build" / "lambda-cache" / target.name,
            TEMPLATE if runtime_matches else _template_for(python),
            {"Architecture": machine_architecture()},
            None,
        )
    )
    with ThreadPoolExecutor(len(builds)) as pool:  # side by side: 40 s from nothing here, 66 s one after the other
        for done in [pool.submit(_build_one, python, each) for each in builds]:
            done.result()


@dataclass(frozen=True)
class _SamBuild:
    """One ``sam build``. SAM keeps a build's dependencies under its working directory's .aws-sam/deps and
    deletes those of other builds there: each build has its own, so a change to functions/ reinstalls none."""

    build_dir: Path
    workdir: Path
    cache_dir: Path
    template: Path
    overrides: dict[str, str]
    prefix: str | None  # where the bytecode says its files are (None: where they are)


def _build_one(python: Interpreter, each: _SamBuild) -> None:
    started = time.monotonic()
    _sam_build(python, each)
    built = time.monotonic()
    _compile(python, each.build_dir, each.prefix)
    (each.build_dir / DIGEST_FILE).write_text(source_digest())
    took = f"sam build {built - started:.1f} s, bytecode {time.monotonic() - built:.1f} s"
    print(f"Built {each.build_dir.relative_to(ROOT)} ({took})")


def ensure_local_build() -> Path:
    """The local package, rebuilt first when the functions or the template changed since it was built."""
    if not is_current():
        print("The Lambda package is older than functions/ or the template: rebuilding it.", file=sys.stderr)
        build(deployable=False)
    return local_build()


def _sam_build(python: Interpreter, each: _SamBuild) -> None:
    command = [
        str(SAM),
        "build",
        "--template-file",
        str(each.template),
        "--build-dir",
        str(each.build_dir),
        "--cached",
        "--cache-dir",
        str(each.cache_dir),
    ]
    if each.overrides:
        command += ["--parameter-overrides", " ".join(f"{k}={v}" for k, v in each.overrides.items())]
    env = {
        **os.environ,
        "PATH": f"{Path(python.path).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "SAM_CLI_TELEMETRY": "0",
        # requirements.txt pins every distribution the functions need; pip's own --no-deps (set for the
        # builder's pip runs) keeps out what those pull in that Lambda's runtime provides (botocore and its
        # dependencies, for aws-xray-sdk): 16 MB copied into each function instead of 47 MB.
        "PIP_NO_DEPS": "1",
    }
    each.workdir.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(command, cwd=each.workdir, env=env, capture_output=True, text=True)  # noqa: S603
    if done.returncode != 0:
        raise BuildError(f"sam build failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}")


def _compile(python: Interpreter, build_dir: Path, prefix: str | None) -> None:
    """Bytecode for each function's package (unchecked hashes: the sources never change in a package),
    compiled once per group of identical packages (see :mod:`revoice_local.bytecode`)."""
    groups: dict[str, list[str]] = {}
    for folder in sorted(p for p in build_dir.iterdir() if p.is_dir()):
        groups.setdefault(_files_digest(folder.rglob("*"), folder), []).append(str(folder))
    script = Path(__file__).with_name("bytecode.py")
    subprocess.run([python.path, str(script), prefix or "", json.dumps(list(groups.values()))], check=True)  # noqa: S603


def _install_runtime(python: Interpreter) -> None:
    target = runtime_dir(python)
    stamp = target / ".requirements"
    wanted = RUNTIME_REQUIREMENTS.read_text()
    if stamp.exists() and stamp.read_text() == wanted:
        return
    shutil.rmtree(target, ignore_errors=True)
    subprocess.run(  # noqa: S603
        [
            python.path,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-compile",
            "--target",
            str(target),
            "-r",
            str(RUNTIME_REQUIREMENTS),
        ],
        check=True,
    )
    subprocess.run([python.path, "-m", "compileall", "-q", "-j0", str(target)], check=True, stdout=subprocess.DEVNULL)  # noqa: S603
    stamp.write_text(wanted)


def _template_for(python: Interpreter) -> Path:
    """The template with the running Python's runtime, for the loud fallback of :func:`lambda_python`."""
    from revoice_local.stack.template import load_template

    template = load_template(TEMPLATE)
    template["Globals"]["Function"]["Runtime"] = python.runtime
    template["Globals"]["Function"]["CodeUri"] = str(FUNCTIONS)
    for resource in template["Resources"].values():
        if "DefinitionUri" in resource.get("Properties", {}):
            resource["Properties"]["DefinitionUri"] = str(TEMPLATE.parent / resource["Properties"]["DefinitionUri"])
    path = ROOT / "build" / f"template.{python.runtime}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(template))
    return path


# -- checking --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PackageReport:
    function: str
    path: Path
    unzipped_bytes: int
    distributions: dict[str, str]  # normalised name -> version
    development_only: list[str]

    @property
    def megabytes(self) -> float:
        return round(self.unzipped_bytes / 1024 / 1024, 1)


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned(requirements: Path = REQUIREMENTS) -> dict[str, str]:
    """``name==version`` lines of a requirements file, by normalised name."""
    pins = {}
    for line in requirements.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, sep, version = line.partition("==")
            if not sep:
                raise BuildError(f"{requirements.name}: {line!r} is not pinned with ==")
            pins[normalise(name)] = version.strip()
    return pins


def inspect(function: str, path: Path) -> PackageReport:
    size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    distributions = {}
    for info in path.glob("*.dist-info"):
        metadata = (info / "METADATA").read_text(errors="replace")
        name = re.search(r"^Name: (.+)$", metadata, re.MULTILINE)
        version = re.search(r"^Version: (.+)$", metadata, re.MULTILINE)
        if name and version:
            distributions[normalise(name.group(1).strip())] = version.group(1).strip()
    top_level = {p.name.removesuffix(".py") for p in path.iterdir()}
    development = sorted(
        {normalise(n) for n in DEVELOPMENT_ONLY & top_level} | (set(distributions) & development_distributions())
    )
    return PackageReport(function, path, size, distributions, development)


@cache
def development_distributions() -> set[str]:
    """The distributions the project's dev extras name (none belongs in a Lambda package)."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {re.split(r"[\[<>=!~ ;]", spec, maxsplit=1)[0] for spec in project["optional-dependencies"]["dev"]}
    return {normalise(name) for name in names}


def import_check(
    package: Path, handler: str, environment: dict[str, str], python: Interpreter | None = None
) -> str | None:
    """Import ``handler`` the way Lambda's runtime would, in a clean interpreter; the error, or None."""
    python = python or lambda_python()
    module, _, attribute = handler.rpartition(".")
    script = (
        "import importlib, sys\n"
        f"sys.path[:0] = [{str(package)!r}, {str(runtime_dir(python))!r}]\n"
        f"handler = getattr(importlib.import_module({module!r}), {attribute!r})\n"
        "assert callable(handler), 'the handler is not callable'\n"
    )
    env = {"PATH": "/usr/bin:/bin", "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1", **environment}
    done = subprocess.run(  # noqa: S603
        [python.path, "-I", "-S", "-B", "-c", script], cwd=package, env=env, capture_output=True, text=True
    )
    if done.returncode == 0:
        return None
    lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
    return lines[-1] if lines else f"exit status {done.returncode}"


def functions(template: dict[str, Any] | None = None) -> dict[str, str]:
    """Each function's logical id and handler, from the template."""
    from revoice_local.stack.template import load_template

    resources = (template or load_template(TEMPLATE))["Resources"]
    return {
        logical_id: str(resource["Properties"]["Handler"])
        for logical_id, resource in resources.items()
        if resource["Type"] == "AWS::Serverless::Function"
    }


def _check(build_dir: Path) -> int:
    from revoice_local.stack.template import plan

    environments = plan({"SyncApiKey": "placeholder", "ApiToken": "placeholder-token"}).functions
    failures = 0
    for logical_id, handler in functions().items():
        report = inspect(logical_id, build_dir / logical_id)
        error = import_check(local_build() / logical_id, handler, environments[logical_id].environment)
        problems = [f"development-only: {', '.join(report.development_only)}"] if report.development_only else []
        if error:
            problems.append(f"import: {error}")
        failures += bool(problems)
        print(
            f"{logical_id:<18} {report.megabytes:>6.1f} MB  {len(report.distributions)} distributions  "
            f"{'; '.join(problems) or 'ok'}"
        )
    return failures


def main(argv: list[str] | None = None) -> int:
    command = (argv if argv is not None else sys.argv[1:]) or ["build"]
    try:
        if command[0] == "build":
            build()
            print(f"Built {DEPLOY_BUILD.relative_to(ROOT)} (deploy) and {local_build().relative_to(ROOT)} (local).")
            return 0
        if command[0] == "check":
            return 1 if _check(DEPLOY_BUILD if DEPLOY_BUILD.exists() else local_build()) else 0
    except BuildError as error:
        print(f"revoice package: {error}", file=sys.stderr)
        return 1
    print("usage: python -m revoice_local.package [build|check]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
