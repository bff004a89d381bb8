"""The arrows run one way: handlers wire adapters to the pipeline; the pipeline knows only its ports, so
nothing in it or in the sync. labs client can reach AWS but through an adapter a test can replace."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "functions" / "revoice"
# What each layer may import of revoice, and which AWS libraries.
ALLOWED = {
    "handlers": ({"handlers", "pipeline", "sync", "aws"}, {"boto3", "botocore"}),
    "aws": (
        {"aws", "pipeline"},
        {"boto3", "botocore", "mypy_boto3_s3", "mypy_boto3_stepfunctions", "mypy_boto3_dynamodb", "mypy_boto3_events"},
    ),
    "pipeline": ({"pipeline", "sync"}, set()),
    "sync": ({"sync"}, set()),
}
AWS_LIBRARIES = {"boto3", "botocore"} | {name for _, libraries in ALLOWED.values() for name in libraries}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_each_layer_imports_only_the_layers_and_aws_libraries_it_may(layer: str) -> None:
    layers, libraries = ALLOWED[layer]
    wrong = []
    for path in sorted((PACKAGE / layer).glob("*.py")):
        for name in _imports(path):
            top, _, rest = name.partition(".")
            if top == "revoice" and rest and rest.split(".")[0] not in layers:
                wrong.append(f"{path.name}: {name}")
            if top in AWS_LIBRARIES and top not in libraries:
                wrong.append(f"{path.name}: {name}")
    assert wrong == []


def test_every_module_of_the_package_belongs_to_a_layer() -> None:
    assert {p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__"} == set(ALLOWED)
