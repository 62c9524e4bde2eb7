"""The suite's own layout (tests/README.md): every module of isodrop/ has its test file at the mirrored
path under tests/unit/, and no test module imports another (shared code is tests/harness/, shared
fixtures a conftest.py). And the package's layout (docs/design.md): every module named in the layout
table, no import running to a higher floor, no circle, no import inside a function."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
PACKAGE = TESTS.parent / "isodrop"
DESIGN = TESTS.parent / "docs" / "design.md"


def mirrored(module: Path) -> Path:
    relative = module.relative_to(PACKAGE)
    return TESTS / "unit" / relative.parent / f"test_{relative.name}"


def test_every_product_module_has_a_unit_test_file_at_its_mirrored_path() -> None:
    modules = [m for m in PACKAGE.rglob("*.py") if m.name not in ("__init__.py", "__main__.py")]
    assert modules
    missing = sorted(str(mirrored(m).relative_to(TESTS.parent)) for m in modules if not mirrored(m).is_file())
    assert not missing, f"modules without their test file: {missing}"


def test_no_test_module_imports_another() -> None:
    offenders = []
    for test_file in TESTS.rglob("test_*.py"):
        for node in ast.walk(ast.parse(test_file.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                imported = node.module.split(".")
                names = [alias.name for alias in node.names]
                if imported[0] == "tests" and any(part.startswith("test_") for part in imported + names):
                    offenders.append(f"{test_file.relative_to(TESTS.parent)}: from {node.module} import {names}")
    assert not offenders, offenders


def layout_rows() -> list[tuple[str, int]]:
    """(the modules cell, the floor) of each row of docs/design.md's layout table."""
    text = DESIGN.read_text()
    table = text[text.index("| module | floor |") :]
    rows = []
    for line in table.splitlines()[2:]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if cells[1]:  # a section heading row has no floor
            rows.append((cells[0], int(cells[1].split()[0])))
    return rows


def module_floors() -> dict[str, int]:
    """Each module's path relative to isodrop/ and the floor of the table row that names it: a top-level
    module by its file name, a package's module by its folder and its file name in one row."""
    rows = layout_rows()
    floors = {}
    for module in sorted(PACKAGE.rglob("*.py")):
        relative = module.relative_to(PACKAGE)
        folder = f"`{relative.parent.as_posix()}/`" if relative.parent != Path(".") else None
        for cell, floor in rows:
            named, _, files = cell.partition(" (")  # "`extract/` (`image.py`, ...)" or "`cli.py`, `__main__.py`"
            wanted = f"`{relative.name}`"
            if (wanted in named) if folder is None else (named == folder and wanted in files):
                floors[relative.as_posix()] = floor
    return floors


def imports_of(module: Path) -> tuple[set[str], list[str]]:
    """The isodrop modules `module` imports (as paths relative to isodrop/), and its imports that are
    not at the module's top level."""
    tree = ast.parse(module.read_text())
    package = module.relative_to(PACKAGE.parent).with_suffix("").parts[:-1]  # the package it is in
    top_level = {id(node) for node in tree.body}
    found, nested = set(), []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = list(package[: len(package) - node.level + 1]) if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            submodules = [f"{target}.{alias.name}" for alias in node.names]
            submodules = [
                name for name in submodules if (PACKAGE.parent / name.replace(".", "/")).with_suffix(".py").is_file()
            ]
            # `from package import submodule` imports the submodule, not the package's other names
            targets = submodules if len(submodules) == len(node.names) else [target, *submodules]
        elif isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            continue
        if id(node) not in top_level:
            nested.append(f"line {node.lineno}: {ast.unparse(node)}")
        for name in targets:
            parts = name.split(".")
            if parts[0] != "isodrop":
                continue
            candidates = [Path(*parts[1:], "__init__.py")]
            if parts[1:]:
                candidates.append(Path(*parts[1:]).with_suffix(".py"))
            found.update(path.as_posix() for path in candidates if (PACKAGE / path).is_file())
    found.discard(module.relative_to(PACKAGE).as_posix())
    return found, nested


def test_every_product_module_is_named_in_the_design_layout_table() -> None:
    floors = module_floors()
    modules = sorted(m.relative_to(PACKAGE).as_posix() for m in PACKAGE.rglob("*.py"))
    assert [m for m in modules if m not in floors] == [], "add them to docs/design.md's layout table"


def test_no_import_runs_to_a_higher_floor_nor_in_a_circle_nor_inside_a_function() -> None:
    floors = module_floors()
    graph, upward, nested = {}, [], []
    for module in sorted(PACKAGE.rglob("*.py")):
        name = module.relative_to(PACKAGE).as_posix()
        graph[name], inner = imports_of(module)
        nested += [f"{name} {line}" for line in inner]
        upward += [
            f"{name} (floor {floors[name]}) imports {target} (floor {floors[target]})"
            for target in sorted(graph[name])
            if floors[target] > floors[name]
        ]
    assert upward == []
    assert nested == [], "cli.py's lazy import of commands is the one exception, made with importlib"
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in path, f"import circle: {' -> '.join(path[path.index(name) :] + (name,))}"
        if name in done:
            return
        for target in graph[name]:
            visit(target, (*path, name))
        done.add(name)

    for name in graph:
        visit(name, ())
