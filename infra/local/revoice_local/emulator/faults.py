"""Which fault, if any, the next matching request or job gets. Thread-safe: rules are consumed."""

from __future__ import annotations

import fnmatch
import random
import threading

from revoice_local.emulator.config import FaultKind, FaultRule

HTTP_KINDS = frozenset({"rate_limit", "concurrency_limit", "server_error", "drop", "slow"})


class FaultBook:
    def __init__(self, rules: list[FaultRule], rng: random.Random | None = None) -> None:
        self._rules = [rule.model_copy() for rule in rules]
        self._lock = threading.Lock()
        self._rng = rng or random.Random(7)
        self.injected: list[tuple[str, str]] = []

    def replace(self, rules: list[FaultRule]) -> None:
        """A new fault plan: these rules, and a fresh record of what was injected."""
        with self._lock:
            self._rules = [rule.model_copy() for rule in rules]
            self.injected = []

    def add(self, rules: list[FaultRule]) -> None:
        with self._lock:
            self._rules.extend(rule.model_copy() for rule in rules)

    def take(self, target: str, kinds: frozenset[str] | set[str]) -> FaultRule | None:
        """The first live rule of one of ``kinds`` whose target matches, consuming one of its uses."""
        with self._lock:
            for rule in self._rules:
                if rule.kind not in kinds or not _matches(rule.target, target):
                    continue
                if rule.times is not None and rule.times <= 0:
                    continue
                if rule.skip > 0:
                    rule.skip -= 1
                    continue
                if rule.probability < 1 and self._rng.random() >= rule.probability:
                    continue
                if rule.times is not None:
                    rule.times -= 1
                self.injected.append((rule.kind, target))
                return rule
        return None

    def take_kind(self, target: str, kind: FaultKind) -> FaultRule | None:
        return self.take(target, {kind})


def _matches(pattern: str, target: str) -> bool:
    if pattern == "*":
        return True
    if " " in pattern and " " in target:
        method, _, path = pattern.partition(" ")
        t_method, _, t_path = target.partition(" ")
        return fnmatch.fnmatchcase(t_method, method) and fnmatch.fnmatchcase(t_path, path)
    return fnmatch.fnmatchcase(target, pattern)
