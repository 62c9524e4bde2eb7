"""The suite's own layout (tests/README.md): every module of isodrop/ has its test file at the mirrored
path under tests/unit/, and no test module imports another (shared code is tests/harness/, shared
fixtures a conftest.py)."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
PACKAGE = TESTS.parent / "isodrop"


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
