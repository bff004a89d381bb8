"""The options every command takes mean the same before the command's name as after it."""

from __future__ import annotations

from pathlib import Path

import pytest

from revoice_local.cli import _parser
from revoice_local.target import DEFAULT_STATE


@pytest.mark.parametrize(
    "argv",
    [
        ["--local-state", "elsewhere.json", "--json", "--stack", "prod", "--debug", "status", "job-1"],
        ["status", "job-1", "--local-state", "elsewhere.json", "--json", "--stack", "prod", "--debug"],
        ["--local-state", "elsewhere.json", "--stack", "prod", "voices", "list", "--json", "--debug"],
    ],
)
def test_an_option_given_before_or_after_the_command_is_kept(argv: list[str]) -> None:
    args = _parser().parse_args(argv)
    assert (args.local_state, args.json, args.stack, args.debug) == (Path("elsewhere.json"), True, "prod", True)


def test_a_command_without_options_gets_the_defaults() -> None:
    args = _parser().parse_args(["local"])
    assert (args.local_state, args.json, args.stack, args.debug) == (DEFAULT_STATE, False, None, False)
