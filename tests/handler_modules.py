"""Import a function's handler module the way Lambda does: with that function's template environment set,
since each handler validates its settings at import."""

from __future__ import annotations

import importlib
import sys
from types import ModuleType

import pytest

from revoice_local.stack.template import LocalPlan, plan

PLAN: LocalPlan = plan({"SyncApiKey": "k", "ApiToken": "t" * 16})


def import_handler_module(function: str, monkeypatch: pytest.MonkeyPatch, **overrides: str) -> ModuleType:
    """A fresh import of ``function``'s handler module, with ``overrides`` of its variables; it is dropped
    again when the test ends."""
    spec = PLAN.functions[function]
    for name, value in {**spec.environment, **overrides}.items():
        monkeypatch.setenv(name, str(value))
    module_name = spec.handler.rsplit(".", 1)[0]
    monkeypatch.delitem(sys.modules, module_name, raising=False)
    module = importlib.import_module(module_name)
    monkeypatch.setitem(sys.modules, module_name, module)
    return module
