"""dvc.yaml must say exactly what each stage's code depends on.

DVC reruns a stage only when a listed dep or param changes. A src/ file the stage imports
but dvc.yaml does not list lets a stale output survive a code change (cv/cv_raw once missed
stages/clean.py); a listed file the stage never imports reruns it for nothing. So, per stage:

* the src/ files in `deps` EQUAL the import closure of the stage's module, found by parsing
  the sources with `ast` (nothing is imported: no TensorFlow). Every import counts, lazy ones
  inside functions too, since they run. Third-party imports are ignored.
* its `params` EQUAL the module-level `PARAMS` tuple of dotted keys the module declares
  (read statically), and each of those keys exists in params.yaml.

__init__.py rule: importing dgcnn_ie.a.b runs dgcnn_ie/__init__.py and dgcnn_ie/a/__init__.py.
Such a file counts only when it is non-trivial, i.e. holds more than a docstring and literal
dunder metadata (`__version__ = "0.1.0"`), so empty package markers need not be listed. An
__init__.py that a stage reads a name from (`from .. import __version__`) always counts.
"""

from __future__ import annotations

import ast
import sys
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
PACKAGE = "dgcnn_ie"


def module_file(name: str) -> Path | None:
    """The file under src/ that defines module `name` (a package: its __init__.py), else None."""
    if name != PACKAGE and not name.startswith(PACKAGE + "."):
        return None
    base = SRC.joinpath(*name.split("."))
    return next((p for p in (base.with_suffix(".py"), base / "__init__.py") if p.is_file()), None)


def is_trivial_init(path: Path) -> bool:
    """True for an __init__.py holding only a docstring and literal dunder assignments."""
    def trivial(node: ast.stmt) -> bool:
        if isinstance(node, ast.Expr):
            return isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
        return (isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
                and all(isinstance(t, ast.Name) and t.id.startswith("__") for t in node.targets))
    return path.name == "__init__.py" and all(map(trivial, ast.parse(path.read_text()).body))


def direct_imports(name: str, path: Path) -> tuple[set[str], set[Path]]:
    """(package modules `name` imports anywhere in its source, __init__ files it reads names from)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    modules: set[str] = set()
    inits: set[Path] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            modules |= {alias.name for alias in node.names if module_file(alias.name)}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: `from ..x import y`, `from . import y`
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            if not (base == PACKAGE or base.startswith(PACKAGE + ".")):
                continue
            for alias in node.names:
                if module_file(f"{base}.{alias.name}"):  # `from .. import plots`: a submodule
                    modules.add(f"{base}.{alias.name}")
                else:  # a name defined in `base`
                    modules.add(base)
                    if (base_file := module_file(base)) and base_file.name == "__init__.py":
                        inits.add(base_file)
    return modules, inits


def import_closure(module: str) -> set[str]:
    """Repo-relative paths of the package files that `python -m <module>` executes."""
    files: set[Path] = set()
    seen: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        path = module_file(name)
        assert path, f"{name} is imported but no file under src/ defines it"
        todo += [name.rsplit(".", i)[0] for i in range(1, name.count(".") + 1)]  # parent packages run
        if not is_trivial_init(path):
            files.add(path)
        modules, inits = direct_imports(name, path)
        todo += modules
        files |= inits
    return {p.relative_to(ROOT).as_posix() for p in files}


def stage_module(cmd: str) -> str:
    """The stage module a cmd `python -m dgcnn_ie.stages <name> ...` runs (through the runner)."""
    match = re.match(r"python -m dgcnn_ie\.stages (\w+)(\s|$)", cmd.strip())
    assert match, f"cannot tell the stage module from cmd {cmd!r}"
    return f"dgcnn_ie.stages.{match.group(1)}"


RUNNER = "dgcnn_ie.stages.__main__"   # what `python -m dgcnn_ie.stages` executes before the stage module


def declared_params(module: str) -> tuple[str, ...]:
    """The module-level `PARAMS` tuple of `module`, read with ast (the module is not imported)."""
    for node in ast.parse(module_file(module).read_text()).body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        if any(isinstance(t, ast.Name) and t.id == "PARAMS" for t in targets):
            value = ast.literal_eval(node.value)
            assert isinstance(value, tuple) and all(isinstance(k, str) for k in value), f"{module}.PARAMS: not a tuple of str"
            return value
    pytest.fail(f"{module} declares no module-level PARAMS tuple of the params.yaml keys it reads")


def has_key(tree: object, dotted: str) -> bool:
    for part in dotted.split("."):
        if not isinstance(tree, dict) or part not in tree:
            return False
        tree = tree[part]
    return True


# (name, body) per stage; a foreach stage's body is its `do` template, a matrix stage's is itself.
STAGES = [(name, stage.get("do", stage)) for name, stage in yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"].items()]
by_stage = pytest.mark.parametrize("name,stage", STAGES, ids=[name for name, _ in STAGES])


def diff(listed: set[str], wanted: set[str]) -> str:
    return f"\n  missing: {sorted(wanted - listed)}\n  extra:   {sorted(listed - wanted)}"


@by_stage
def test_src_deps_equal_import_closure(name, stage):
    module = stage_module(stage["cmd"])
    deps = {(d if isinstance(d, str) else next(iter(d))).removeprefix("./") for d in stage.get("deps", [])}
    listed = {d.rstrip("/") for d in deps if d.startswith("src/")}
    wanted = import_closure(module) | import_closure(RUNNER)
    assert listed == wanted, f"stage {name}: src/ deps differ from the import closure of {module}{diff(listed, wanted)}"


@by_stage
def test_params_equal_declared_params(name, stage):
    module = stage_module(stage["cmd"])
    entries = stage.get("params", [])
    for entry in entries:
        assert isinstance(entry, str), f"stage {name}: params entry {entry!r} names another file; only params.yaml keys are supported"
    declared = set(declared_params(module))
    assert set(entries) == declared, f"stage {name}: params differ from {module}.PARAMS{diff(set(entries), declared)}"


@by_stage
def test_declared_params_exist(name, stage):
    module = stage_module(stage["cmd"])
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    absent = [key for key in declared_params(module) if not has_key(params, key)]
    assert not absent, f"stage {name}: {module}.PARAMS keys not in params.yaml: {absent}"


def _layout_paths() -> set[str]:
    """Every path src/dgcnn_ie/layout.py names (module constants, a CV run's paths, the submission)."""
    sys.path.insert(0, str(SRC))
    from dgcnn_ie import layout
    paths = {v for v in vars(layout).values() if isinstance(v, Path)}
    for run in (layout.cv_raw(0), layout.cv("plain", 0)):
        paths |= {run.model_dir, run.predictions_dir, run.report_path, run.history_dir, run.checkpoint_dir}
    paths.add(layout.submission_path("lic2019"))
    histories = {d / name for d in paths for name in (layout.HISTORY_JSON, layout.HISTORY_CSV)}
    return {p.as_posix() for p in paths | histories}


def _paths(stage: dict) -> list[str]:
    out = []
    for key in ("deps", "outs", "metrics", "plots"):
        out += [entry if isinstance(entry, str) else next(iter(entry)) for entry in stage.get(key, [])]
    return out


@by_stage
def test_every_artifact_path_is_a_layout_path(name, stage):
    """dvc.yaml spells the paths of layout.py (a matrix/foreach item as family `plain`, fold 0)."""
    known = _layout_paths()
    for path in _paths(stage):
        if path.startswith("src/") or path in ("${data.source.dir}", "${word2vec.extra_dir}"):
            continue
        concrete = (path.replace("${item.family}", "plain").replace("${item.fold}", "0").replace("${item}", "0")
                    .replace("${data.format}", "lic2019"))
        assert concrete in known, f"stage {name}: {path} is not a path of src/dgcnn_ie/layout.py"


def test_top_level_plots_read_stage_outputs_with_existing_templates():
    """Each top-level plot reads files that a stage declares (at layout paths) and names a template that
    exists (a DVC built-in or a file under .dvc/plots)."""
    doc = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    outputs = {path for _, stage in STAGES for path in _paths(stage)}
    builtin = {"linear", "simple", "scatter", "smooth", "confusion", "confusion_normalized", "bar_horizontal",
               "bar_horizontal_sorted", "scatter_jitter"}
    assert doc.get("plots"), "dvc.yaml has no top-level plots"
    for entry in doc["plots"]:
        (name, spec), = entry.items()
        files = spec["y"] if isinstance(spec["y"], dict) else {name: spec["y"]}
        for path in files:
            assert path in outputs and path in _layout_paths(), f"plot {name!r}: {path} is no stage's layout output"
        template = spec.get("template", "linear")
        assert template in builtin or (ROOT / ".dvc/plots" / f"{template}.json").is_file(), \
            f"plot {name!r}: no template {template!r}"


def test_layering_no_stage_imports_another_and_the_library_imports_no_stage():
    """Layers: library (all but stages/ and cli/) <- stages <- cli; a stage never imports another stage."""
    stages_dir = SRC / PACKAGE / "stages"
    for path in sorted((SRC / PACKAGE).rglob("*.py")):
        name = ".".join(path.relative_to(SRC).with_suffix("").parts).removesuffix(".__init__")
        modules, _ = direct_imports(name, path)
        stage_imports = {m for m in modules if m.startswith(f"{PACKAGE}.stages.")}
        if path.parent == stages_dir:
            allowed = {f"{PACKAGE}.stages.runner"} if path.name == "__main__.py" else set()
            assert stage_imports <= allowed, f"{name} imports other stages: {sorted(stage_imports - allowed)}"
        elif path.parent != SRC / PACKAGE / "cli":      # the console command sits above the stages
            assert not stage_imports and f"{PACKAGE}.stages" not in modules, f"library module {name} imports {stage_imports}"


def test_every_stage_can_be_saved_to_and_restored_from_the_run_cache():
    """Every stage of dvc.yaml passes DVC's own run-cache rule, so `dvc exp run` with params switched back, a
    queued experiment that shares models with another, or a second workspace restores it instead of rerunning.

    Two checks make up the rule in DVC 3.x: `dvc.stage.cache._can_hash` (no `persist` output, local outputs
    inside the repository, ...; called here as is, with the deps' hashes stubbed because the deps of a stage
    exist only after the stages before it ran), and `Stage.run`, which saves to the run-cache only when every
    output that is not a metric or plot is cached (`run_cache=not no_cache_outs`). The tiny pipeline test checks
    the same end to end: every stage has a run-cache entry after `dvc repro`."""
    from dvc.repo import Repo
    from dvc.stage.cache import _can_hash
    from dvc_data.hashfile.hash_info import HashInfo

    repo = Repo(str(ROOT))
    try:
        stages = list(repo.index.stages)
        assert len(stages) > 10, [s.addressing for s in stages]
        refused = []
        for stage in stages:
            for dep in stage.deps:
                dep.get_hash = lambda: HashInfo("md5", "0" * 32)
            uncached = [str(o.def_path) for o in stage.outs if not (o.use_cache or o.is_metric or o.is_plot)]
            if not _can_hash(stage) or uncached:
                refused.append(f"{stage.addressing}: can_hash={_can_hash(stage)}, uncached plain outputs {uncached}, "
                               f"persist {[str(o.def_path) for o in stage.outs if o.persist]}")
        assert not refused, "stages DVC will not run-cache:\n" + "\n".join(refused)
    finally:
        repo.close()
