"""Fails when template.yaml refers to a parameter, resource or condition it does not declare.

cfn-lint does not look inside every property (a !Ref to a missing resource in a function's
environment passes it), so this walks the whole template: Ref, GetAtt, Sub (both forms),
Condition and DependsOn. Runs with cfn-lint's own YAML loader, which understands the short
intrinsic-function tags.
"""

import re
import sys

from cfnlint.decode import decode

PSEUDO = {
    "AWS::AccountId", "AWS::NotificationARNs", "AWS::NoValue", "AWS::Partition",
    "AWS::Region", "AWS::StackId", "AWS::StackName", "AWS::URLSuffix",
}
# Attributes SAM generates for the resources it expands.
SAM_GENERATED = re.compile(r".+(Role|Alias|Version|ApiGatewayDefaultStage|Stage)$")


def main(path):
    template, matches = decode(path)
    if matches:
        for match in matches:
            print(match)
        return 1
    names = set(template.get("Parameters", {})) | set(template.get("Resources", {})) | PSEUDO
    conditions = set(template.get("Conditions", {}))
    problems = []

    def check(name, where, kinds=names):
        if name not in kinds and not SAM_GENERATED.match(name):
            problems.append(f"{where}: {name!r} is not declared")

    def walk(node, where):
        if isinstance(node, dict):
            for key, value in node.items():
                here = f"{where}/{key}"
                if key == "Ref" and isinstance(value, str):
                    check(value, here)
                elif key == "Fn::GetAtt":
                    target = value[0] if isinstance(value, list) else str(value).split(".")[0]
                    check(target, here)
                elif key == "Fn::Sub":
                    text, local = (value[0], value[1]) if isinstance(value, list) else (value, {})
                    for name in re.findall(r"\$\{([^!}][^}]*)\}", text):
                        name = name.split(".")[0]
                        if name not in local:
                            check(name, here)
                elif key in ("Condition", "Fn::If") and where.count("/") >= 1:
                    target = value[0] if isinstance(value, list) else value
                    if isinstance(target, str):
                        check(target, here, conditions)
                walk(value, here)
        elif isinstance(node, list):
            for index, item in enumerate(node):
                walk(item, f"{where}[{index}]")

    for section in ("Globals", "Resources", "Outputs", "Conditions"):
        walk(template.get(section, {}), section)
    for name, resource in template.get("Resources", {}).items():
        depends = resource.get("DependsOn", [])
        for target in [depends] if isinstance(depends, str) else depends:
            check(target, f"Resources/{name}/DependsOn")
    for problem in problems:
        print(problem)
    if not problems:
        print(f"{path}: every reference resolves")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "template.yaml"))
