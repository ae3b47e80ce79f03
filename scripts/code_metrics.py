"""How readable and how narrowly depended-on the library is: the longest functions and modules of
src/dgcnn_ie, and for each library module the number of dvc.yaml stage definitions that list it
(an edit of the module reruns those stages and what follows them).

    python scripts/code_metrics.py [ROOT]          # ROOT: a checkout (default: this one), e.g. a `git archive`

Reads files only (ast, yaml); imports nothing of the project.
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

import yaml


def function_lengths(root: Path) -> list[tuple[int, str]]:
    out = []
    for path in sorted((root / "src/dgcnn_ie").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                out.append((node.end_lineno - node.lineno + 1, f"{path.relative_to(root)}:{node.name}"))
    return sorted(out, reverse=True)


def module_lengths(root: Path) -> list[tuple[int, str]]:
    return sorted(((len(p.read_text(encoding="utf-8").splitlines()), str(p.relative_to(root)))
                   for p in (root / "src/dgcnn_ie").rglob("*.py")), reverse=True)


def stages_per_module(root: Path) -> dict[str, list[str]]:
    """Library module (not a stage module) -> the dvc.yaml stage definitions whose deps list it."""
    stages = yaml.safe_load((root / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    listed: dict[str, list[str]] = {}
    for name, stage in stages.items():
        for dep in stage.get("do", stage).get("deps", []):
            dep = dep if isinstance(dep, str) else next(iter(dep))
            if dep.startswith("src/dgcnn_ie/") and "/stages/" not in dep:
                listed.setdefault(dep, []).append(name)
    return listed


def main(argv: list[str]) -> None:
    root = Path(argv[0] if argv else ".").resolve()
    print("longest functions:", *[f"  {n:4d}  {where}" for n, where in function_lengths(root)[:5]], sep="\n")
    print("longest modules:", *[f"  {n:4d}  {where}" for n, where in module_lengths(root)[:5]], sep="\n")
    total = len(yaml.safe_load((root / "dvc.yaml").read_text(encoding="utf-8"))["stages"])
    print(f"stage definitions listing each library module (of {total}):")
    for dep, names in sorted(stages_per_module(root).items(), key=lambda item: (-len(item[1]), item[0])):
        print(f"  {len(names):3d}  {dep}")


if __name__ == "__main__":
    main(sys.argv[1:])
