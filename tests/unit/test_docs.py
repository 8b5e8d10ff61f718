"""The documentation's code is real: every Python block parses, every name it imports from the SDK exists,
every relative link in the README resolves, and the README's tour runs as written."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted(
    [ROOT / "README.md", *(ROOT / "docs").rglob("*.md"), *(ROOT / "examples").rglob("*.md")],
    key=lambda p: str(p),
)
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def _name(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _blocks(path: Path) -> list[str]:
    return BLOCK.findall(path.read_text(encoding="utf-8"))


def _parse(source: str, where: str) -> ast.AST:
    flags = ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT  # async pages show top-level await
    return compile(source, where, "exec", flags=flags, dont_inherit=True)  # type: ignore[no-any-return]


def _sdk_imports(tree: ast.AST) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for node in ast.walk(tree):
        module = node.module or "" if isinstance(node, ast.ImportFrom) else ""
        if isinstance(node, ast.ImportFrom) and module.split(".")[0] == "visualsearch_sdk":
            found += [(module, alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [(alias.name, "") for alias in node.names if alias.name.startswith("visualsearch_sdk")]
    return found


def test_there_are_pages_with_python_blocks() -> None:
    assert sum(len(_blocks(p)) for p in PAGES) >= 10


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_every_python_block_parses_and_imports_real_names(page: Path) -> None:
    for number, source in enumerate(_blocks(page), 1):
        where = f"{_name(page)} block {number}"
        try:
            tree = _parse(source, where)
        except SyntaxError as exc:
            pytest.fail(f"{where} does not parse: {exc}")
        for module, name in _sdk_imports(tree):
            imported = importlib.import_module(module)
            assert not name or name == "*" or hasattr(imported, name), f"{where}: {module} has no {name}"


def test_the_import_check_can_fail() -> None:
    tree = _parse("from visualsearch_sdk import VisualSearch, NoSuchThing\n", "probe")
    missing = [n for m, n in _sdk_imports(tree) if not hasattr(importlib.import_module(m), n)]
    assert missing == ["NoSuchThing"]


def test_every_relative_link_in_the_readme_resolves() -> None:
    targets = [t for t in LINK.findall((ROOT / "README.md").read_text(encoding="utf-8")) if "://" not in t]
    assert targets, "the README links to the docs"
    missing = [t for t in targets if not (ROOT / t).exists()]
    assert not missing, f"README links to missing files: {missing}"


def test_every_docs_page_is_in_the_site_nav() -> None:
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    listed = set(re.findall(r":\s*([\w/.-]+\.md)\s*$", nav, re.M))
    pages = {str(p.relative_to(ROOT / "docs")) for p in (ROOT / "docs").rglob("*.md")}
    assert pages == listed, f"not in nav: {sorted(pages - listed)}; in nav, missing: {sorted(listed - pages)}"


def test_the_readme_tour_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from visualsearch_sdk.cli import app

    tour = next(b for b in _blocks(ROOT / "README.md") if "VisualSearch.from_url" in b)
    monkeypatch.chdir(tmp_path)
    assert CliRunner().invoke(app, ["demo", "--save-images", "photos"]).exit_code == 0  # as the README says
    code = compile(tour, "README tour", "exec")
    for _ in range(2):  # as written, twice: a reader runs it again against the same persistent index
        exec(code, {"__name__": "__tour__"})
    assert (tmp_path / "shop-index").is_dir()


_OPERATIONS = {  # the first cell of a row of retries.md's idempotency table -> (operation, capability)
    "`search`": ("search", None),
    "`search_objects`": ("search_objects", "multi_object"),
    "`get`": ("get", "get"),
    "`count`": ("count", "count"),
    "list": ("list", "list"),
    "`verify`": ("verify", None),
    "`update`": ("update", "index_update"),
    "`delete`": ("delete", None),
    "insert": ("index", None),
    "status poll": ("index_status", "index_async"),
}


def _idempotency_table() -> dict[str, dict[str, str]]:
    text = (ROOT / "docs" / "retries.md").read_text(encoding="utf-8")
    lines = text[text.index("| operation | `local` |") :].splitlines()
    names = [c.strip().strip("`") for c in lines[0].strip("|").split("|")][1:]
    table: dict[str, dict[str, str]] = {}
    for line in lines[2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells[0].startswith("`send("):  # the caller decides, per request
            continue
        key = next((k for k in _OPERATIONS if cells[0].startswith(k)), cells[0])
        table[key] = dict(zip(names, cells[1:]))
    return table


def test_the_retries_page_idempotency_table_is_what_the_adapters_declare() -> None:
    from visualsearch_sdk._registry import get_adapter

    table = _idempotency_table()
    assert set(table) == set(_OPERATIONS), "a row is missing or unknown"
    for key, row in table.items():
        operation, capability = _OPERATIONS[key]
        for name, cell in row.items():
            adapter = get_adapter(name)
            if capability is not None and capability not in {c.value for c in adapter.capabilities}:
                expected = "—"
            else:
                expected = "yes" if operation in adapter.idempotent else "**no**"
            assert cell == expected, (
                f"retries.md says {cell!r} for {key} on {name}; the adapter: {expected!r}"
            )
