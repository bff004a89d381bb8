"""Translate ``infra/template.yaml`` to plain CloudFormation with samtranslator, for ``cfn-lint``.

``python -m revoice_local.stack.translate OUT.json``. No AWS call is made: the managed policies the
template's functions get are known ARNs.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from samtranslator.translator.transform import transform

from revoice_local.stack.template import REGION, TEMPLATE, load_template

MANAGED = {
    "AWSLambdaBasicExecutionRole": "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    "AWSXrayWriteOnlyAccess": "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
    "AWSXRayDaemonWriteAccess": "arn:aws:iam::aws:policy/AWSXRayDaemonWriteAccess",
}


class _KnownPolicies:
    def load(self) -> dict[str, str]:
        return MANAGED


def translated(path: Path = TEMPLATE) -> dict[str, Any]:
    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)  # samtranslator wants a region for pseudo-parameters
    template = load_template(path)
    template["Globals"]["Function"]["CodeUri"] = "s3://packaged-by-sam/revoice.zip"  # what `sam package` does
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::StateMachine":  # inline what `sam build` would upload
            props = resource["Properties"]
            props["Definition"] = json.loads((path.parent / props.pop("DefinitionUri")).read_text())
    return dict(transform(template, {}, _KnownPolicies()))


def main() -> None:
    Path(sys.argv[1]).write_text(json.dumps(translated(), indent=1))


if __name__ == "__main__":
    main()
