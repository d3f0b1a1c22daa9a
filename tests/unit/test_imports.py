"""The arrows point inward: parse every module's imports and check who may import what.

``mobile_web -> api -> ledger`` and ``ledger/sql -> ledger``. The pure core
(``ledger/`` outside ``ledger/sql/``) imports the standard library,
``cryptography`` and itself only. A failure names each module and the rule it broke.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DATABASE = {"sqlmodel", "sqlalchemy", "alembic", "aiosqlite", "asyncpg"}
STDLIB = set(sys.stdlib_module_names) | {"__future__"}


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, dotted
    path: Path
    line: int
    target: str  # the imported module, dotted and absolute

    @property
    def top(self) -> str:
        return self.target.split(".")[0]

    def __str__(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line} ({self.module}) imports {self.target}"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> Iterator[Import]:
    """Every import in ``path``, relative ones made absolute; even those under TYPE_CHECKING."""
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(module, path, node.lineno, alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            yield Import(module, path, node.lineno, target)


def modules_under(package: str) -> list[Path]:
    directory = ROOT / package
    return sorted(p for p in directory.rglob("*.py") if "__pycache__" not in p.parts)


def all_imports(package: str, where: Callable[[Path], bool] = lambda _: True) -> list[Import]:
    return [i for path in modules_under(package) if where(path) for i in imports_of(path)]


def in_sql(path: Path) -> bool:
    return (ROOT / "ledger" / "sql") in path.parents


def report(rule: str, broken: list[Import]) -> str:
    return f"{rule}:\n" + "\n".join(f"  {i}" for i in broken)


def test_the_ledger_does_not_import_the_application_or_the_web() -> None:
    broken = [i for i in all_imports("ledger") if i.top in {"api", "mobile_web", "litestar"}]

    assert not broken, report("ledger/ must not import api, mobile_web or litestar", broken)


def test_only_ledger_sql_knows_the_database_libraries() -> None:
    broken = [i for i in all_imports("ledger", where=lambda p: not in_sql(p)) if i.top in DATABASE]

    assert not broken, report(
        "only ledger/sql/ may import sqlmodel, sqlalchemy, alembic, aiosqlite or asyncpg", broken
    )


def test_the_pure_core_imports_only_the_standard_library_cryptography_and_itself() -> None:
    allowed = STDLIB | {"cryptography", "ledger"}

    broken = [
        i for i in all_imports("ledger", where=lambda p: not in_sql(p)) if i.top not in allowed
    ]

    assert not broken, report(
        "the pure core (ledger/ outside ledger/sql/) may import only the standard library, "
        "cryptography and ledger",
        broken,
    )


def test_the_pure_core_does_not_import_its_storage_layer() -> None:
    broken = [
        i
        for i in all_imports("ledger", where=lambda p: not in_sql(p))
        if i.target == "ledger.sql" or i.target.startswith("ledger.sql.")
    ]

    assert not broken, report("the arrow is ledger/sql -> ledger, never back", broken)


def test_the_api_does_not_import_the_pages() -> None:
    broken = [i for i in all_imports("api") if i.top == "mobile_web"]

    assert not broken, report("api/ must not import mobile_web (mobile_web -> api)", broken)


# The checker itself: each rule finds a breach when there is one.


@pytest.mark.parametrize(
    ("source", "module", "expected"),
    [
        ("import sqlalchemy.orm\n", "ledger/rules.py", "sqlalchemy.orm"),
        ("from litestar import Litestar\n", "ledger/model.py", "litestar"),
        ("from .sql import store\n", "ledger/audit.py", "ledger.sql"),
        ("from ..sql.store import SqlStore\n", "ledger/sub/x.py", "ledger.sql.store"),
        ("from . import limits\n", "ledger/__init__.py", "ledger"),
        ("if TYPE_CHECKING:\n    import asyncpg\n", "ledger/store.py", "asyncpg"),
        ("def f():\n    import mobile_web.pages\n", "api/app.py", "mobile_web.pages"),
    ],
)
def test_the_import_parser_sees_every_kind_of_import(
    tmp_path: Path, source: str, module: str, expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / module
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source, encoding="utf-8")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)

    targets = [i.target for i in imports_of(path)]

    assert expected in targets


def test_the_packages_the_rules_speak_of_exist() -> None:
    assert modules_under("ledger"), "no modules found under ledger/"
    assert modules_under("ledger/sql"), "no modules found under ledger/sql/"
    assert modules_under("api"), "no modules found under api/"
