"""Bytecode for the Lambda packages, run by the runtime's own Python (bytecode is version-specific).

``python bytecode.py PREFIX GROUPS_JSON``: GROUPS_JSON is a list of folder groups, the folders of a group
holding the same files (sam build copies one build definition's artifacts into each of its functions).
The first folder of each group is compiled and the others get hard links to its bytecode: 13 functions
cost two compilations, and a link is a twentieth of a write here. With a PREFIX (``/var/task``) the
bytecode names its files under PREFIX, as Lambda runs them; without one it names them in the group's
first folder, where the same bytes are (a local traceback opens the file, perhaps another function's
copy of it). Only the standard library: this runs outside any venv.
"""

from __future__ import annotations

import compileall
import json
import os
import py_compile
import sys
from pathlib import Path


def compile_groups(prefix: str | None, groups: list[list[str]]) -> None:
    for first, *others in groups:
        ok = compileall.compile_dir(
            first,
            quiet=1,
            workers=0,
            stripdir=first if prefix else None,
            prependdir=prefix,
            invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
        )
        if not ok:
            sys.exit(f"bytecode compilation failed in {first}")
        for compiled in Path(first).rglob("*.pyc"):
            relative = compiled.relative_to(first)
            for other in others:
                target = Path(other) / relative
                target.parent.mkdir(exist_ok=True)
                target.unlink(missing_ok=True)
                os.link(compiled, target)


if __name__ == "__main__":
    compile_groups(sys.argv[1] or None, json.loads(sys.argv[2]))
