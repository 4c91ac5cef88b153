"""The package's shape: layers that import only downwards, no import circles,
and one module on libcurl's socket and timer callbacks (README, "How it works")."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "curlmulti_dl"

# Lowest first. A module may import its own layer and the layers below it.
LAYERS: list[set[str]] = [
    {"_version", "_redact", "_exceptions", "_progress", "_expected", "_eventloop"},
    {"protocol"},
    {"_policy", "_config"},
    {"ranges"},
    {"files"},
    {"view"},
    {"engine"},
    {"schedule"},
    {"leases"},  # above the scheduler and sockets its ConnectionLeases drives
    {"job"},
    {"_batch", "_batchitems", "_expansion"},
    {"_downloader", "_dispatch", "_api", "_listings", "_keywords"},
    {"dask"},
    {"cli", "__init__", "__main__"},
]


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        found[".".join(parts)] = path
    return found


def imports_of(name: str, path: Path) -> set[str]:
    """Every module of the package ``name`` imports, TYPE_CHECKING and
    function-level imports included."""
    package = name.split(".")[:-1]
    known = modules()
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                target = [*base, *(node.module.split(".") if node.module else [])]
            elif node.module and node.module.startswith("curlmulti_dl"):
                target = node.module.split(".")[1:]
            else:
                continue
            dotted = ".".join(target)
            for alias in node.names:  # `from . import x` may name a module
                if f"{dotted}.{alias.name}".strip(".") in known:
                    found.add(f"{dotted}.{alias.name}".strip("."))
            if dotted in known:
                found.add(dotted)
            elif f"{dotted}.__init__".strip(".") in known:
                found.add(f"{dotted}.__init__".strip("."))
    found.discard(name)
    return found


def layer(name: str) -> int:
    top = name.split(".")[0]
    for index, members in enumerate(LAYERS):
        if top in members:
            return index
    raise AssertionError(f"{name} is in no layer: add it to LAYERS")


def test_every_module_imports_only_its_layer_and_below() -> None:
    upward = []
    for name, path in modules().items():
        for target in imports_of(name, path):
            if layer(target) > layer(name):
                upward.append(f"{name} -> {target}")
    assert upward == []


def test_no_module_imports_itself_through_others() -> None:
    graph = {name: imports_of(name, path) for name, path in modules().items()}
    circles = []
    state: dict[str, int] = {}  # 1: on the path, 2: done

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for target in sorted(graph[name]):
            if state.get(target) == 1:
                circles.append(" -> ".join([*path[path.index(target) :], target]))
            elif target not in state:
                visit(target, [*path, target])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert circles == []


def test_the_layers_are_seen_by_the_checks() -> None:
    # The checks above would pass on an empty graph: make sure they read imports.
    graph = imports_of("job.driver", modules()["job.driver"])
    assert {"job.machine", "engine.transfer", "_config"} <= graph
    assert layer("job.driver") > layer("engine.transfer") > layer("protocol.probe")


# A file's decisions do no I/O: the machine and what it decides with import
# neither the engine nor pycurl, whatever their layers would allow.
SANS_IO = ("job.machine", "job.rangebook", "job.firstanswer", "job.recovery", "job.actions",
           "job.report", "job.state", "ranges.lane")  # fmt: skip


def _reaches(name: str, graph: dict[str, set[str]]) -> set[str]:
    seen, todo = set(), [name]
    while todo:
        for target in graph[todo.pop()]:
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def _imports_pycurl(path: Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import) and any(a.name == "pycurl" for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and node.module == "pycurl":
            return True
    return False


def test_a_files_decisions_reach_no_engine_and_no_pycurl() -> None:
    known = modules()
    graph = {name: imports_of(name, path) for name, path in known.items()}
    reached = {name: _reaches(name, graph) for name in SANS_IO}
    engine = {
        name: sorted(t for t in found if t.startswith("engine")) for name, found in reached.items()
    }
    assert all(not found for found in engine.values()), engine
    with_pycurl = sorted(
        t for name in SANS_IO for t in {name} | reached[name] if _imports_pycurl(known[t])
    )
    assert with_pycurl == []


def test_only_the_bridge_touches_the_socket_and_timer_callbacks() -> None:
    touching = sorted(
        name
        for name, path in modules().items()
        if "M_SOCKETFUNCTION" in path.read_text() or "M_TIMERFUNCTION" in path.read_text()
    )
    assert touching == ["engine.multi"]
