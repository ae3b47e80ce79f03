"""docs/architecture.md against the code: every name and signature it quotes exists in src/dgcnn_ie.

The source is read with `ast` (nothing is imported), so this runs in about a second. The doc follows
these conventions, which are what is checked:

Where a name is looked up. A heading that names modules (``### `data.py` ...``, ``### `model/` ...``, a
folder meaning every module in it) or a paragraph that opens with a bold module (``**`cli/show.py`**``)
sets the *section modules* until the next heading or bold opener; inside a code block a comment line that
starts with module names (``# model/views.py``, ``# model/dgcnn.py, model/baselines.py: ...``) sets them for the
rest of the block.

Code blocks (```python and ```text). Each line is split at top-level ``;`` into segments:
- ``def name(...)``: a function of the section modules, or, indented under (or on the line of) a
  ``class X``, a method of X. Its parameters must be the real ones, in order, with the same kinds
  (those after ``*`` keyword-only) and, where the doc gives a default, the same default. ``self``/``cls``
  may be left out, and ``...`` stands for any number of parameters left out (``def raw(...)``).
- ``class X(Base)``: a class of the section modules (with those bases, when the doc names any). What follows
  ``class X:`` on its line, and indented lines below it, name members of X: ``field: type``, ``name =
  value`` or a list ``a, b (note), c``. ``X: a, b`` at the start of a line lists the fields of class X.
- ``NAME = ...`` / ``A, B = ...``: module-level names of the section modules (``A_B/C`` is ``A_B, A_C``,
  ``P_{X,Y}_S`` is ``P_X_S, P_Y_S``); in ```python blocks every ALL_CAPS name outside strings and brackets too.
- comments are not checked.

Inline code in prose and tables. A dotted name (``checkpoint.discard``, ``Extractor.predict``,
``stages/report._fold_model_api``, ``cleaning.vote/apply`` for ``cleaning.vote`` and ``cleaning.apply``)
is a params.yaml key when params.yaml has it (``*``, ``<x>`` and ``plateau_*`` match any key); otherwise,
when its first part is a module (looked up beside the section modules first, then from the package root,
or by a module name that is unique in the package) or a class of the package, the whole name must resolve;
a first part that is a params.yaml section but resolves to nothing is an error; any other first part
(``keras.``, ``tf.``) is not checked. A bare ``name(...)`` is a function, class or method of the section
modules, else a function or class anywhere in the package (builtins are skipped). Arguments: with
``-> ...`` the span is a whole signature and is checked as a ``def`` line; without it, when every argument
is a parameter form (``name``, ``name: type``, ``name=value``, ``...``), the names must appear in the real
signature in that order (``Class(a, b)``: its ``__init__``, or its bases); calls with expressions as
arguments (``load_candidates("dev")``) and everything in table rows are checked by name only.

Paths: every ``src/dgcnn_ie/...``, ``tests/...``, ``scripts/...`` and ``docs/...`` path the doc names must
exist, and so must every ``a/x.py`` in backticks (from the repository, ``src/`` or ``src/dgcnn_ie/``) and
``x.py`` (anywhere in ``src/dgcnn_ie/``, ``tests/`` or ``scripts/``; kg-2019's files in EXTERNAL_FILES are
not); ``file.py::name`` must define ``name``.
"""
from __future__ import annotations

import ast
import builtins
import fnmatch
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "src" / "dgcnn_ie"
DOC = ROOT / "docs" / "architecture.md"
PARAMS = ROOT / "params.yaml"
# files of kg-2019 (the reference implementation), not of this repository
EXTERNAL_FILES = {"kg.py", "post_repair.py"}
FILE_EXTENSIONS = {"json", "py", "md", "yaml", "yml", "csv", "txt", "npy", "npz", "keras", "kv", "sh", "toml",
                   "lock", "cfg"}
IDENT = re.compile(r"[A-Za-z_]\w*$")


# ------------------------------------------------------------------------------------------ the code

@dataclass
class Func:
    params: list[tuple[str, str, str | None]]     # (name, kind: pos | * | kw | **, default source or None)


@dataclass
class Klass:
    name: str
    module: str
    bases: list[str]
    members: dict = field(default_factory=dict)  # name -> Func | Klass | None (an attribute)


@dataclass
class Module:
    name: str                                    # dotted, relative to dgcnn_ie ("" is the package itself)
    is_package: bool
    names: dict = field(default_factory=dict)    # top-level name -> Func | Klass | None
    imports: dict = field(default_factory=dict)  # local name -> (module, name) of a relative import


def _func(node: ast.FunctionDef | ast.AsyncFunctionDef) -> Func:
    a = node.args
    positional = a.posonlyargs + a.args
    defaults = [None] * (len(positional) - len(a.defaults)) + list(a.defaults)
    params = [(p.arg, "pos", None if d is None else ast.unparse(d)) for p, d in zip(positional, defaults)]
    if a.vararg:
        params.append((a.vararg.arg, "*", None))
    params += [(p.arg, "kw", None if d is None else ast.unparse(d)) for p, d in zip(a.kwonlyargs, a.kw_defaults)]
    if a.kwarg:
        params.append((a.kwarg.arg, "**", None))
    return Func(params)


def _targets(node) -> list[ast.expr]:
    if isinstance(node, ast.Assign):
        return node.targets
    if isinstance(node, (ast.AnnAssign, ast.AugAssign)):
        return [node.target]
    return []


def _flat(target: ast.expr) -> list[ast.expr]:
    if isinstance(target, (ast.Tuple, ast.List)):
        return [t for element in target.elts for t in _flat(element)]
    return [target]


def _statements(body: list[ast.stmt]):
    """The statements of a module or class body, looking inside if/try/with blocks."""
    for node in body:
        yield node
        for name in ("body", "orelse", "finalbody"):
            if isinstance(node, (ast.If, ast.Try, ast.With)) and hasattr(node, name):
                yield from _statements(getattr(node, name))
        if isinstance(node, ast.Try):
            for handler in node.handlers:
                yield from _statements(handler.body)


def _klass(node: ast.ClassDef, module: str) -> Klass:
    k = Klass(node.name, module, [ast.unparse(b).split("[")[0].rsplit(".", 1)[-1] for b in node.bases])
    for item in _statements(node.body):
        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
            k.members[item.name] = _func(item)
            for sub in ast.walk(item):      # self.x = ... in any method
                for target in (t for t0 in _targets(sub) for t in _flat(t0)):
                    if (isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name)
                            and target.value.id == "self"):
                        k.members.setdefault(target.attr, None)
                if (isinstance(sub, ast.Call) and ast.unparse(sub.func) == "object.__setattr__" and len(sub.args) > 1
                        and isinstance(sub.args[1], ast.Constant)):
                    k.members.setdefault(sub.args[1].value, None)
        elif isinstance(item, ast.ClassDef):
            k.members[item.name] = _klass(item, module)
        for target in (t for t0 in _targets(item) for t in _flat(t0)):
            if isinstance(target, ast.Name):
                k.members.setdefault(target.id, None)
    return k


def _module(path: Path) -> Module:
    rel = path.relative_to(PKG).with_suffix("")
    parts = list(rel.parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts = parts[:-1]
    name = ".".join(parts)
    m = Module(name, is_package)
    package = parts if is_package else parts[:-1]
    for node in _statements(ast.parse(path.read_text(encoding="utf-8")).body):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            m.names[node.name] = _func(node)
        elif isinstance(node, ast.ClassDef):
            m.names[node.name] = _klass(node, name)
        elif isinstance(node, ast.ImportFrom) and node.level:
            base = package[:len(package) - (node.level - 1)] if node.level > 1 else package
            source = ".".join(base + ([node.module] if node.module else []))
            for alias in node.names:
                m.imports[alias.asname or alias.name] = (source, alias.name)
        for target in (t for t0 in _targets(node) for t in _flat(t0)):
            if isinstance(target, ast.Name):
                m.names.setdefault(target.id, None)
    return m


class Code:
    """Every module of src/dgcnn_ie, read with ast."""

    def __init__(self):
        self.modules = {m.name: m for m in map(_module, sorted(PKG.rglob("*.py")))}

    def lookup(self, module: Module, name: str, depth: int = 0):
        """A top-level name of ``module``, a submodule, or (in a package __init__) a re-exported name."""
        if name in module.names:
            return module.names[name]
        sub = f"{module.name}.{name}" if module.name else name
        if module.is_package and sub in self.modules:
            return self.modules[sub]
        if module.is_package and name in module.imports and depth < 5:
            source, original = module.imports[name]
            if source in self.modules:
                return self.lookup(self.modules[source], original, depth + 1)
        return _MISSING

    def base_classes(self, klass: Klass) -> list[Klass]:
        module = self.modules[klass.module]
        found = []
        for base in klass.bases:
            target = module.names.get(base)
            if target is None and base in module.imports:
                source, original = module.imports[base]
                if source in self.modules:
                    target = self.lookup(self.modules[source], original)
            if isinstance(target, Klass):
                found.append(target)
        return found

    def member(self, klass: Klass, name: str, depth: int = 0):
        if name in klass.members:
            return klass.members[name]
        for base in self.base_classes(klass) if depth < 10 else []:
            got = self.member(base, name, depth + 1)
            if got is not _MISSING:
                return got
        return _MISSING

    def classes(self, name: str, modules: list[str] | None = None) -> list[Klass]:
        pool = [self.modules[m] for m in modules] if modules is not None else self.modules.values()
        return [m.names[name] for m in pool if isinstance(m.names.get(name), Klass)]


_MISSING = object()


# ------------------------------------------------------------------------------------------ text helpers

def _split_top(text: str, sep: str) -> list[str]:
    """``text`` split at ``sep`` outside brackets and strings."""
    parts, depth, quote, start, i = [], 0, None, 0, 0
    while i < len(text):
        c = text[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = None
        elif c in "\"'":
            quote = c
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif depth == 0 and text.startswith(sep, i):
            parts.append(text[start:i])
            start = i + len(sep)
            i += len(sep)
            continue
        i += 1
    parts.append(text[start:])
    return parts


def _strip_comment(line: str) -> str:
    return _split_top(line, "#")[0].rstrip()


def _close(text: str, start: int) -> int:
    """The index of the bracket closing the one at ``text[start]``, or -1."""
    depth, quote, i = 0, None, start
    while i < len(text):
        c = text[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = None
        elif c in "\"'":
            quote = c
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def _without_strings_and_brackets(text: str) -> str:
    out, depth, quote, i = [], 0, None, 0
    while i < len(text):
        c = text[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = None
        elif c in "\"'":
            quote = c
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif depth == 0:
            out.append(c)
        i += 1
    return "".join(out)


def _braces(text: str) -> list[str]:
    """``a{x,y}b`` -> ``[axb, ayb]`` (one level, repeated)."""
    m = re.search(r"\{([^{}]*)\}", text)
    if not m:
        return [text]
    return [x for alt in m.group(1).split(",") for x in _braces(text[:m.start()] + alt + text[m.end():])]


def _upper_names(lhs: str) -> list[str]:
    """The names of the left side of a ``NAME = ...`` segment, with ``A_B/C`` and ``P_{X,Y}_S`` expanded."""
    names = []
    for item in (x.strip() for x in _split_top(lhs, ",")):
        for expanded in _braces(item):
            first, *alternatives = expanded.split("/")
            names.append(first)
            stem = first.rsplit("_", 1)[0]
            names += [f"{stem}_{alt}" for alt in alternatives]
    return names


def _default_source(text: str) -> str:
    try:
        return ast.unparse(ast.parse(text.strip(), mode="eval"))
    except SyntaxError:
        return text.strip()


ELIDE, KWONLY, POSONLY = "...", "*", "/"


def _doc_params(args: str) -> list | None:
    """The doc's parameter list: items (name, kind-hint, default) and the markers; None if not parameters."""
    items = []
    if not args.strip():
        return items
    for element in (e.strip() for e in _split_top(args, ",")):
        if element in (ELIDE, KWONLY, POSONLY):
            items.append(element)
            continue
        m = re.match(r"(\*{0,2})([A-Za-z_]\w*)\s*(.*)$", element, re.S)
        if not m:
            return None
        stars, name, rest = m.groups()
        default = None
        if rest.startswith(":"):
            eq = _split_top(rest, "=")
            rest = "=" + "=".join(eq[1:]) if len(eq) > 1 else ""
        if rest.startswith("="):
            default = rest[1:].strip()
        elif rest:
            return None
        items.append((name, {"": "", "*": "*", "**": "**"}[stars], default))
    return items


def _signature_problems(doc: list, real: list[tuple[str, str, str | None]], exact: bool) -> list[str]:
    """How the quoted parameters ``doc`` differ from the ``real`` ones (empty: they fit)."""
    real = [p for i, p in enumerate(real) if not (i == 0 and p[0] in ("self", "cls"))]
    doc = [d for i, d in enumerate(doc) if not (i == 0 and isinstance(d, tuple) and d[0] in ("self", "cls"))]
    index = {p[0]: i for i, p in enumerate(real)}
    problems, previous, elided, after_star = [], -1, not exact, False
    for item in doc:
        if item == ELIDE:
            elided = True
            continue
        if item in (KWONLY, POSONLY):
            after_star = after_star or item == KWONLY
            continue
        name, stars, default = item
        if name not in index:
            problems.append(f"no parameter {name!r}")
            continue
        i = index[name]
        if i <= previous:
            problems.append(f"{name!r} out of order")
        elif i != previous + 1 and not elided:
            problems.append(f"{', '.join(p[0] for p in real[previous + 1:i])} left out before {name!r} (no '...')")
        previous, elided = i, not exact
        if exact:
            kind = real[i][1]
            if stars and kind != stars:
                problems.append(f"{name!r} is not {stars}{name}")
            elif not stars and kind in ("*", "**"):
                problems.append(f"{name!r} is {kind}{name}")
            elif not stars and (kind == "kw") != after_star:
                problems.append(f"{name!r} is {'keyword-only' if kind == 'kw' else 'not keyword-only'}")
            if stars == "*":
                after_star = True
            if default not in (None, "", "...") and _default_source(default) != real[i][2]:
                problems.append(f"{name!r} defaults to {real[i][2]}, not {default}")
    if exact and not elided and previous != len(real) - 1:
        problems.append(f"{', '.join(p[0] for p in real[previous + 1:])} left out at the end (no '...')")
    return problems


# ------------------------------------------------------------------------------------------ the checker

@dataclass
class Checker:
    code: Code
    params: dict
    errors: list[str] = field(default_factory=list)
    line: int = 0
    modules: list[str] = field(default_factory=list)  # the section modules

    def error(self, message: str) -> None:
        self.errors.append(f"docs/architecture.md:{self.line}: {message}")

    # -- section modules

    def module_names(self, text: str) -> list[str]:
        """The modules a heading, bold opener or code comment names (``x.py``, ``a/b.py``, a folder ``a/``)."""
        found = []
        for token in re.findall(r"(?<![\w/.])([\w/]+\.py|[a-z_]+/)(?![\w/])", text):
            if token.endswith("/"):
                prefix = token[:-1].replace("/", ".")
                found += [m for m in self.code.modules if m == prefix or m.startswith(prefix + ".")]
            else:
                name = token[:-3].replace("/", ".").removesuffix(".__init__")
                if name in self.code.modules:
                    found.append(name)
        return found

    # -- code blocks

    def block(self, lines: list[tuple[int, str]], python: bool) -> None:
        modules, klass = list(self.modules), None
        for self.line, raw in lines:
            stripped = raw.strip()
            if not stripped:
                continue
            if stripped.startswith("#"):
                if re.match(r"#\s*[\w/]+\.py\b", stripped):      # "# model/views.py": the block goes on there
                    modules, klass = self.module_names(stripped.split(":")[0]), None
                continue
            code = _strip_comment(raw)
            indented = raw[:1] == " "
            if not indented:
                klass = None
            for segment in _split_top(code, ";"):
                klass = self.segment(segment.strip(), modules, klass, indented, python)

    def segment(self, s: str, modules: list[str], klass: Klass | None, indented: bool, python: bool):
        """Check one segment of a code line; returns the class the next segments belong to."""
        while s.startswith("@"):
            m = re.match(r"@[\w.]+", s)
            end = m.end()
            if s[end:end + 1] == "(":
                end = _close(s, end) + 1
            s = s[end:].strip()
        if not s:
            return klass
        m = re.match(r"(def|class)\s+([A-Za-z_]\w*)", s)
        if m and m.group(1) == "def":
            self.quoted_def(s, m.group(2), modules, klass)
            return klass
        if m:
            return self.quoted_class(s, m.group(2), modules)
        m = re.match(r"([A-Z]\w*)\s*:\s+(.*)$", s)
        if m and not indented and self.code.classes(m.group(1), modules):
            klass = self.code.classes(m.group(1), modules)[0]
            self.fields(klass, m.group(2))
            return klass
        if klass is not None:
            self.fields(klass, s)
            return klass
        parts = _split_top(s, "=")
        names = []
        if len(parts) > 1 and not parts[0].rstrip().endswith(("!", "<", ">", "=")):
            names += [n for n in _upper_names(parts[0]) if IDENT.match(n)]
        if python:
            names += re.findall(r"\b[A-Z][A-Z0-9_]*[A-Z0-9]\b", _without_strings_and_brackets(s))
        for name in dict.fromkeys(names):
            if not any(name in self.code.modules[mod].names for mod in modules):
                self.error(f"{name} is not defined in {self.where(modules)}")
        return klass

    def where(self, modules: list[str]) -> str:
        return ", ".join(modules) or "(no module: the section names none)"

    def quoted_def(self, s: str, name: str, modules: list[str], klass: Klass | None) -> None:
        start = s.index("(", s.index(name))
        end = _close(s, start)
        if end < 0:
            self.error(f"unbalanced parentheses in {s[:60]!r}")
            return
        params = _doc_params(s[start + 1:end])
        if params is None:
            self.error(f"def {name}: the parameters are not a parameter list: {s[start:end + 1]!r}")
            return
        if klass is not None:
            target, where = self.code.member(klass, name), f"class {klass.name} ({klass.module})"
            targets = [] if target is _MISSING else [target]
        else:
            targets = [self.code.modules[m].names[name] for m in modules if name in self.code.modules[m].names]
            where = self.where(modules)
        functions = [t for t in targets if isinstance(t, Func)]
        if not functions:
            self.error(f"def {name}: no such function in {where}")
            return
        results = [_signature_problems(params, f.params, exact=True) for f in functions]
        if all(results):
            self.error(f"def {name}: {'; '.join(results[0])}")

    def quoted_class(self, s: str, name: str, modules: list[str]) -> Klass | None:
        found = self.code.classes(name, modules)
        if not found:
            self.error(f"class {name}: not in {self.where(modules)}")
            return None
        rest = s[s.index(name) + len(name):].lstrip()
        if rest.startswith("("):
            end = _close(rest, 0)
            bases = [b.strip().split("[")[0].rsplit(".", 1)[-1] for b in _split_top(rest[1:end], ",") if b.strip()]
            if not any(bases == k.bases for k in found):
                self.error(f"class {name}: bases {found[0].bases}, not {bases}")
            rest = rest[end + 1:].lstrip()
        klass = found[0]
        if rest.startswith(":"):
            rest = rest[1:].strip()
            if rest:
                self.segment(rest, modules, klass, True, False)
        return klass

    def fields(self, klass: Klass, s: str) -> None:
        """``field: type``, ``name = value``, or a list ``a, b (note), c``: members of ``klass``."""
        m = re.match(r"([A-Za-z_]\w*)\s*(:|=(?!=))", s)
        names = [m.group(1)] if m else [x.strip() for x in _without_strings_and_brackets(s).split(",")]
        for name in names:
            if IDENT.match(name) and self.code.member(klass, name) is _MISSING:
                self.error(f"{klass.name}.{name}: no such member ({klass.module})")

    # -- prose

    def prose(self, text: str, table: bool) -> None:
        for span in re.findall(r"`([^`]+)`", text):
            self.span(" ".join(span.split()), table)

    def span(self, span: str, table: bool) -> None:
        if span.startswith(("def ", "class ", "@")):
            self.segment(span, self.modules, None, False, True)
            return
        m = re.match(r"([A-Za-z_][\w.*/<>{},]*)(.*)$", span)
        if not m:
            return
        head, rest = m.groups()
        if head.rsplit(".", 1)[-1].split("::")[0] in FILE_EXTENSIONS or "::" in span:
            return                                       # a file name: see test_named_paths_exist
        args, signature, tail = None, False, rest
        if rest.startswith("("):
            end = _close(rest, 0)
            if end < 0:
                return
            args, tail = rest[1:end], rest[end + 1:].strip()
            signature = tail.startswith("->")
            if tail and not signature:
                args = None                              # `f(...)[0]`: checked by name only
        elif rest and not rest.startswith(" ->"):
            if "," in head or rest.startswith(","):
                for item in _split_top(span, ","):
                    item = item.strip()
                    if re.match(r"[A-Za-z_][\w.*/<>{}]*$", item) and "." in item:
                        self.dotted(item, None, False, table)
                return
            return
        if "." in head or "/" in head:
            self.dotted(head, args, signature, table)
        elif args is not None or signature or rest.startswith("("):
            self.bare_call(head, args, signature, table)

    def params_key(self, parts: list[str]) -> bool:
        def walk(node, rest):
            if not rest:
                return True
            if not isinstance(node, dict):
                return False
            key = rest[0]
            if key == "*" or re.fullmatch(r"<[^>]*>", key):
                return any(walk(v, rest[1:]) for v in node.values())
            return any(walk(v, rest[1:]) for k, v in node.items() if fnmatch.fnmatchcase(str(k), key))
        return walk(self.params, parts)

    def first_part(self, first: str) -> list:
        """What the first part of a dotted name can be: modules beside the section's, from the root, unique
        short module names, classes."""
        candidates = []
        for mod in self.modules:
            package = mod.rsplit(".", 1)[0] if "." in mod else ""
            if self.code.modules[mod].is_package:
                package = mod
            name = f"{package}.{first}" if package else first
            if name in self.code.modules:
                candidates.append(self.code.modules[name])
        if first in self.code.modules:
            candidates.append(self.code.modules[first])
        short = [m for n, m in self.code.modules.items() if n.rsplit(".", 1)[-1] == first]
        if len(short) == 1:
            candidates += short
        candidates += self.code.classes(first, self.modules) or self.code.classes(first)
        return candidates

    def resolve(self, start, parts: list[str]) -> list:
        targets = [start]
        for part in parts:
            following = []
            for t in targets:
                got = (self.code.lookup(t, part) if isinstance(t, Module)
                       else self.code.member(t, part) if isinstance(t, Klass) else _MISSING)
                if got is not _MISSING:
                    following.append(got)
            targets = following
        return targets

    def dotted(self, head: str, args, signature: bool, table: bool) -> None:
        first, _, rest = head.partition(".")
        if "/" in first:                           # stages/report._fold_model_api: a module path
            if not rest or first.replace("/", ".") not in self.code.modules:
                return                             # data/prepared/...: an artifact path
            names = [f"{first.replace('/', '.')}.{rest}"]
        else:
            *stem, last = head.split(".")
            if "/" in last and all(IDENT.match(x) for x in last.split("/")):
                names = [".".join(stem + [alt]) for alt in last.split("/")]
            else:
                names = _braces(head)
        for name in names:
            self.dotted_name(name, args, signature, table)

    def dotted_name(self, name: str, args, signature: bool, table: bool) -> None:
        parts = name.split(".")
        if args is None and not signature and self.params_key(parts):
            return
        if parts[0] == "dgcnn_ie":
            parts = parts[1:]
            candidates = [self.code.modules[""]]
        else:
            candidates = []
        checked = []
        for part in parts:
            if not IDENT.match(part):
                break
            checked.append(part)
        if not candidates:
            if not checked:
                return
            candidates = self.first_part(checked[0])
            checked = checked[1:]
            if not candidates:
                if parts[0] in self.params:
                    self.error(f"{name}: neither a params.yaml key nor a name in src/dgcnn_ie")
                return
        targets = [t for c in candidates for t in self.resolve(c, checked)]
        if not targets:
            self.error(f"{name}: {'neither a params.yaml key nor a name' if parts[0] in self.params else 'not found'}"
                       " in src/dgcnn_ie")
            return
        self.call(name, targets, args, signature, table)

    def bare_call(self, name: str, args, signature: bool, table: bool) -> None:
        if not IDENT.match(name) or hasattr(builtins, name):
            return
        targets = []
        for mod in self.modules:
            module = self.code.modules[mod]
            if name in module.names:
                targets.append(module.names[name])
            targets += [k.members[name] for k in module.names.values()
                        if isinstance(k, Klass) and name in k.members]
        if not targets:
            targets = [m.names[name] for m in self.code.modules.values()
                       if isinstance(m.names.get(name), (Func, Klass))]
        if not targets:
            self.error(f"{name}(...): no such function or class in {self.where(self.modules) if self.modules else ''}"
                       f"{' or ' if self.modules else ''}src/dgcnn_ie")
            return
        self.call(name, targets, args, signature, table)

    def call(self, name: str, targets: list, args, signature: bool, table: bool) -> None:
        if args is None or table:
            return
        params = _doc_params(args)
        if params is None:
            return                                   # a call with expressions: checked by name only
        results = []
        for t in targets:
            if isinstance(t, Klass):
                quoted = [p[0] for p in params if isinstance(p, tuple)]
                if quoted and quoted == t.bases and not signature:
                    return
                t = self.code.member(t, "__init__")
                if t is _MISSING:
                    return                           # a dataclass's or inherited __init__: not checked
            if isinstance(t, Func):
                results.append(_signature_problems(params, t.params, exact=signature))
        if results and all(results):
            self.error(f"{name}({args}): {'; '.join(results[0])}")


def _doc_units(text: str):
    """(kind, first line, content): 'heading', 'bold' (a paragraph opening with a bold module), 'prose',
    'table' (one row), 'block-python' / 'block-text' (a list of (line number, line))."""
    lines = text.splitlines()
    i, paragraph = 0, []

    def flush():
        if paragraph:
            kind = "bold" if paragraph[0][1].startswith("**`") else "prose"
            yield kind, paragraph[0][0], "\n".join(line for _, line in paragraph)
            paragraph.clear()

    while i < len(lines):
        number, line = i + 1, lines[i]
        if line.startswith("```"):
            yield from flush()
            language = line[3:].strip() or "text"
            body = []
            i += 1
            while i < len(lines) and not lines[i].startswith("```"):
                body.append((i + 1, lines[i]))
                i += 1
            yield f"block-{'python' if language == 'python' else 'text'}", number, body
        elif line.startswith("#"):
            yield from flush()
            yield "heading", number, line
        elif line.startswith("|"):
            yield from flush()
            yield "table", number, line
        elif not line.strip():
            yield from flush()
        else:
            paragraph.append((number, line))
        i += 1
    yield from flush()


def problems(doc: Path = DOC, code: Code | None = None) -> list[str]:
    """Every name and signature ``doc`` quotes that the code does not have (see the module docstring)."""
    checker = Checker(code or Code(), yaml.safe_load(PARAMS.read_text(encoding="utf-8")))
    for kind, number, content in _doc_units(doc.read_text(encoding="utf-8")):
        checker.line = number
        if kind == "heading":
            checker.modules = checker.module_names(" ".join(re.findall(r"`([^`]+)`", content)))
            checker.prose(content, table=False)
        elif kind.startswith("block"):
            checker.block(content, python=kind == "block-python")
        else:
            if kind == "bold":
                checker.modules = checker.module_names(content.split("**")[1])
            checker.prose(content, table=kind == "table")
    return checker.errors


def path_problems(doc: Path = DOC) -> list[str]:
    """Repository paths the doc names that do not exist."""
    text, errors = doc.read_text(encoding="utf-8"), []
    named = set(re.findall(r"(?<![\w/.])((?:src/dgcnn_ie|tests|scripts|docs)/[\w./*-]*[\w*/])", text))
    named |= {s for s in re.findall(r"`([\w./-]+\.py(?:::\w+)?)`", text)}
    for path in sorted(named - EXTERNAL_FILES):
        path, _, name = path.partition("::")
        if "/" not in path:                        # runner.py: a file anywhere in the package, tests or scripts
            found = [p for base in (PKG, ROOT / "tests", ROOT / "scripts") for p in base.rglob(path)]
        else:
            bases = [ROOT] if path.split("/")[0] in ("src", "tests", "scripts", "docs") else [ROOT, ROOT / "src", PKG]
            found = [p for base in bases for p in (base.glob(path) if "*" in path else [base / path]) if p.exists()]
        if not found:
            errors.append(f"{path}: no such file or folder")
        elif name and not name.endswith("_") and not any(
                isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name == name
                for p in found if p.is_file() for node in ast.parse(p.read_text(encoding="utf-8")).body):
            errors.append(f"{path}::{name}: not defined there")
    return errors


@pytest.fixture(scope="module")
def code() -> Code:
    return Code()


def test_quoted_names_and_signatures_exist(code):
    found = problems(DOC, code)
    assert not found, "docs/architecture.md quotes what the code does not have:\n" + "\n".join(found)


def test_named_paths_exist():
    found = path_problems(DOC)
    assert not found, "docs/architecture.md names paths that do not exist:\n" + "\n".join(found)


@pytest.mark.parametrize("original, broken, expected", [
    ("def load_schema(path, fmt: str)", "def load_schema(path, format: str)", "no parameter 'format'"),
    ("def load_schema(path, fmt: str)", "def load_schema(fmt: str, path)", "out of order"),
    ("def load_schema(path, fmt: str)", "def load_schema(path)", "left out at the end"),
    ("def load_schema(path, fmt: str)", "def load_schemas(path, fmt: str)", "def load_schemas: no such function"),
    ("def make_folds(n: int, k: int, seed: int)", "def make_folds(n: int, k: int, *, seed: int)",
     "'seed' is not keyword-only"),
    ("`checkpoint.discard", "`checkpoint.discarded", "checkpoint.discarded: not found"),
    ("`Extractor.predict`", "`Extractor.predicts`", "Extractor.predicts: not found"),
    ("(at `train.selection_thresholds`)", "(at `train.selection_threshold`)", "neither a params.yaml key nor a name"),
    ("PARAMS_FILE = \"params.yaml\"", "PARAMS_FILES = \"params.yaml\"", "PARAMS_FILES is not defined"),
])
def test_the_check_catches_a_wrong_name(tmp_path, code, original, broken, expected):
    text = DOC.read_text(encoding="utf-8")
    assert original in text, f"the doc no longer quotes {original!r}: pick another example"
    scratch = tmp_path / "architecture.md"
    scratch.write_text(text.replace(original, broken, 1), encoding="utf-8")
    found = problems(scratch, code)
    assert any(expected in f for f in found), found
