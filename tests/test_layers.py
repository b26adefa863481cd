"""The layers of README "Architecture", enforced: no upward import and no import cycle.

Every import of `bot/` and `handlers/` counts: at the top of a module, inside a function and
under `TYPE_CHECKING`. An import names the module it loads (`from bot.oms import mdm` names
`bot.oms.mdm`, `from bot.oms import OmsClient` names `bot.oms`).

The layers, lowest first, and what each may import of ours:
  kit (bot.kit)                       the kit
  oms (bot.oms), store (bot.store)    the kit and themselves
  sandbox (bot.sandbox)               the kit and itself (never the client it stands in for)
  engine (bot.engine)                 the kit, oms, store and itself
  handlers                            the kit, `bot.engine` and `bot.oms` (their packages,
                                      names in their `__all__` only); their own family's
                                      modules (names without a leading underscore); another
                                      family only through its package's `__all__`
  surface (bot.surface)               everything; nothing outside the surface imports it

Runbooks (handlers/) also import no Slack or database library (slack_sdk, slack_bolt,
sqlalchemy): they answer through the Replier (`reply.post`, `reply.upload`, ...) and name the
Web API client and its error as bot.kit.posting's `SlackClient` and `SlackError`.
"""

from __future__ import annotations

import ast
import textwrap
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "handlers")

MAY_IMPORT = {
    "root": {"root"},
    "kit": {"root", "kit"},
    "oms": {"root", "kit", "oms"},
    "store": {"root", "kit", "store"},
    "sandbox": {"root", "kit", "sandbox"},
    "engine": {"root", "kit", "oms", "store", "engine"},
    "handlers": {"root", "kit", "oms", "engine", "handlers"},
    "surface": {"root", "kit", "oms", "store", "sandbox", "engine", "handlers", "surface"},
}
# Libraries a runbook never imports: Slack is the Replier's, the database the store's.
RUNBOOK_FORBIDDEN_LIBRARIES = ("slack_sdk", "slack_bolt", "sqlalchemy")
# Web API calls a runbook makes through the kit instead (Replier.upload, Replier.user_zone),
# where a refused upload becomes a note rather than an error.
RUNBOOK_FORBIDDEN_CALLS = ("files_upload_v2", "files_upload", "users_info")
# Handlers see these two packages only through their public names.
PUBLIC_FACES = {"engine": "bot.engine", "oms": "bot.oms"}


@dataclass(frozen=True)
class Import:
    importer: str
    target: str  # the module the import loads
    names: tuple[str, ...]  # the names taken from it (`from target import a, b`)
    line: int
    via: str | None = None  # `from bot.oms import mdm`: the package it was taken from

    def faces(self, face: str) -> tuple[str, ...] | None:
        """The names this import takes from the package `face`, or None when it does not
        go through that package (it loads one of its modules directly)."""
        if self.target == face:
            return self.names
        if self.via == face:
            return (self.target.rpartition(".")[2],)
        return None


def layer(module: str) -> str:
    if module == "bot":
        return "root"
    if module.startswith("handlers"):
        return "handlers"
    return module.split(".")[1]


def family(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "handlers" and len(parts) > 1 else None


def find_modules(root: Path) -> dict[str, Path]:
    modules: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    parts = name.split(".")
    while parts:
        if ".".join(parts) in modules:
            return ".".join(parts)
        parts.pop()
    return None


def find_imports(root: Path) -> tuple[dict[str, Path], list[Import]]:
    modules = find_modules(root)
    found: list[Import] = []
    for module, path in modules.items():
        is_package = path.name == "__init__.py"
        package = module if is_package else module.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    target = _resolve(alias.name, modules)
                    if target is not None and target != module:
                        found.append(Import(module, target, (), node.lineno))
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    source = ".".join([*base, *([node.module] if node.module else [])])
                else:
                    source = node.module or ""
                plain: list[str] = []
                for alias in node.names:
                    submodule = f"{source}.{alias.name}"
                    if submodule in modules:
                        if submodule != module:
                            via = source if source in modules else None
                            found.append(Import(module, submodule, (), node.lineno, via))
                    else:
                        plain.append(alias.name)
                target = _resolve(source, modules)
                if plain and target is not None and target != module:
                    found.append(Import(module, target, tuple(plain), node.lineno))
    return modules, found


def public_names(path: Path) -> set[str] | None:
    """The names a module's `__all__` lists, or None without one."""
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            value = ast.literal_eval(node.value)
            return {str(v) for v in value}
    return None


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def _through_face(where: str, imp: Import, face: str, modules: dict[str, Path]) -> list[str]:
    """A runbook takes from `face` (the engine, the client, another family) only the names
    of its `__all__`, never one of its modules directly."""
    names = imp.faces(face)
    if names is None:
        return [f"{where}: a runbook imports {face} only, not its modules"]
    allowed = public_names(modules[face]) or set()
    hidden = [n for n in names if n not in allowed]
    return [f"{where}: {', '.join(hidden)} not in {face}.__all__"] if hidden else []


def forbidden_calls(path: Path) -> list[tuple[str, int]]:
    """The Web API methods of RUNBOOK_FORBIDDEN_CALLS a module names, with their lines."""
    return [
        (node.attr, node.lineno)
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
        if isinstance(node, ast.Attribute) and node.attr in RUNBOOK_FORBIDDEN_CALLS
    ]


def library_imports(path: Path) -> list[tuple[str, int]]:
    """The top-level libraries a module imports (anywhere in it), with their lines."""
    found: list[tuple[str, int]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name.split(".")[0], node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            found.append((node.module.split(".")[0], node.lineno))
    return found


def problems(root: Path) -> list[str]:
    """Every broken rule of the tree at `root`, one line each."""
    modules, imports = find_imports(root)
    out: list[str] = []
    edges: dict[str, set[str]] = defaultdict(set)
    for module in modules:
        edges[module]
    for imp in imports:
        edges[imp.importer].add(imp.target)
        where = f"{imp.importer} (line {imp.line}) imports {imp.target}"
        src, dst = layer(imp.importer), layer(imp.target)
        if dst not in MAY_IMPORT[src]:
            out.append(f"{where}: the {src} layer may not import the {dst} layer")
            continue
        if src == "handlers" and dst in PUBLIC_FACES:
            out += _through_face(where, imp, PUBLIC_FACES[dst], modules)
        if src == "surface" and dst == "handlers" and family(imp.target) is not None:
            # The surface wires families by their packages, never a module inside one.
            out += _through_face(where, imp, f"handlers.{family(imp.target)}", modules)
        if src == "handlers" and dst == "handlers":
            mine, theirs = family(imp.importer), family(imp.target)
            if mine == theirs:
                private = [n for n in imp.names if n.startswith("_")]
                if private:
                    out.append(f"{where}: {', '.join(private)} is private to its module")
            else:
                out += _through_face(where, imp, f"handlers.{theirs}", modules)
    for module, path in modules.items():
        if layer(module) != "handlers":
            continue
        for library, line in library_imports(path):
            if library in RUNBOOK_FORBIDDEN_LIBRARIES:
                out.append(
                    f"{module} (line {line}) imports {library}: a runbook answers through "
                    "its Replier (bot.kit), never Slack's or the database's library"
                )
        for method, line in forbidden_calls(path):
            out.append(
                f"{module} (line {line}) calls {method}: a runbook uploads and looks users up "
                "through its Replier (reply.upload, reply.user_zone)"
            )
    for component in cycles(edges):
        out.append("import cycle: " + " -> ".join(component))
    return out


def test_the_tree_keeps_its_layers_and_has_no_cycle() -> None:
    found = problems(ROOT)
    assert not found, "\n".join(found)


def test_every_layer_package_says_its_job() -> None:
    for package in ("bot.kit", "bot.oms", "bot.store", "bot.sandbox", "bot.engine", "bot.surface"):
        path = ROOT / package.replace(".", "/") / "__init__.py"
        docstring = ast.get_docstring(ast.parse(path.read_text()))
        assert docstring and "import" in docstring, f"{package} does not say what it may import"


def test_the_engine_and_the_client_have_one_public_face() -> None:
    for face in PUBLIC_FACES.values():
        names = public_names(ROOT / face.replace(".", "/") / "__init__.py")
        assert names, f"{face} has no __all__"


# ---- the checker itself catches what it must (a check that cannot fail proves nothing) ----


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for package in ("bot", "bot/kit", "bot/engine", "bot/oms", "bot/store", "bot/surface"):
        (tmp_path / package).mkdir(parents=True, exist_ok=True)
        (tmp_path / package / "__init__.py").touch()
    engine_face = "__all__ = ['Step']\nfrom .steps import Step\n"
    (tmp_path / "bot/engine/__init__.py").write_text(engine_face)
    (tmp_path / "bot/engine/steps.py").write_text("class Step: ...\n")
    (tmp_path / "bot/oms/__init__.py").write_text("__all__ = []\n")
    (tmp_path / "bot/oms/mdm.py").write_text("def recent_logs(): ...\n")
    (tmp_path / "bot/store/db.py").touch()
    (tmp_path / "handlers").mkdir(exist_ok=True)
    (tmp_path / "handlers/__init__.py").touch()
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        (path.parent / "__init__.py").touch()
        path.write_text(textwrap.dedent(text))
    return tmp_path


def test_checker_catches_an_upward_import_inside_a_function(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"bot/kit/blocks.py": "def f():\n    from bot.engine import steps\n"})
    assert any("kit layer may not import the engine layer" in p for p in problems(root))


def test_checker_catches_an_import_of_the_surface(tmp_path: Path) -> None:
    text = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import bot.surface.app\n"
    root = _tree(tmp_path, {"bot/surface/app.py": "", "bot/engine/runs.py": text})
    assert any("may not import the surface layer" in p for p in problems(root))


def test_checker_catches_a_cycle(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "bot/engine/a.py": "from bot.engine import b\n",
            "bot/engine/b.py": "def f():\n    import bot.engine.a\n",
        },
    )
    assert "import cycle: bot.engine.a -> bot.engine.b" in problems(root)


def test_checker_catches_a_runbook_past_the_engine_face(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "handlers/one.py": "from bot.engine.steps import Step\n",
            "handlers/two.py": "from bot.engine import Secret\n",
            "handlers/three.py": "from bot.store import db\n",
            "handlers/four.py": "from bot.oms.mdm import recent_logs\n",
        },
    )
    found = problems(root)
    assert any("handlers.one" in p and "imports bot.engine only" in p for p in found)
    assert any("handlers.two" in p and "Secret not in bot.engine.__all__" in p for p in found)
    assert any("handlers.three" in p and "may not import the store layer" in p for p in found)
    assert any("handlers.four" in p and "imports bot.oms only" in p for p in found)


def test_checker_catches_a_runbook_in_a_sibling_familys_internals(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "handlers/orders/check.py": "from handlers.jobs.run import button\n",
            "handlers/orders/other.py": "from handlers.orders.check import _secret\n",
            "handlers/jobs/run.py": "button = 1\n",
        },
    )
    found = problems(root)
    assert any("handlers.orders.check" in p and "imports handlers.jobs only" in p for p in found)
    assert any("_secret is private" in p for p in found)


def test_checker_catches_the_surface_in_a_familys_internals(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "bot/surface/checks.py": "from handlers.jobs.targets import resolve\n",
            "bot/surface/fine.py": "from handlers.jobs import button\n",
            "handlers/jobs/__init__.py": "__all__ = ['button']\nfrom .run import button\n",
            "handlers/jobs/run.py": "button = 1\n",
            "handlers/jobs/targets.py": "def resolve(): ...\n",
        },
    )
    found = problems(root)
    assert any("bot.surface.checks" in p and "imports handlers.jobs only" in p for p in found)
    assert not any("bot.surface.fine" in p for p in found), found


def test_checker_catches_a_runbook_importing_slack_or_the_database(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "handlers/one.py": "from slack_sdk.errors import SlackApiError\n",
            "handlers/two.py": "def f():\n    import slack_sdk.web.async_client\n",
            "handlers/three.py": "from slack_bolt.async_app import AsyncApp\n",
            "handlers/four.py": "import sqlalchemy as sa\n",
            "handlers/five.py": "async def f(inv):\n    await inv.client.files_upload_v2()\n",
            "bot/surface/app.py": "from slack_sdk.errors import SlackApiError\n",
        },
    )
    found = problems(root)
    for module, library in (
        ("handlers.one", "slack_sdk"),
        ("handlers.two", "slack_sdk"),
        ("handlers.three", "slack_bolt"),
        ("handlers.four", "sqlalchemy"),
    ):
        assert any(p.startswith(f"{module} (line") and f"imports {library}:" in p for p in found)
    assert any(p.startswith("handlers.five (line 2) calls files_upload_v2") for p in found)
    assert not any(p.startswith("bot.surface") for p in found)  # the surface may
