"""The capability matrix in the README is the one the adapters declare."""

from __future__ import annotations

from pathlib import Path

import pytest

from visualsearch_sdk import _matrix
from visualsearch_sdk._registry import get_adapter
from visualsearch_sdk.capabilities import Capability

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", ROOT / "docs" / "capabilities.md"]


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.name)
def test_the_embedded_matrix_equals_the_declared_one(document: Path) -> None:
    found = _matrix.embedded(document.read_text(encoding="utf-8"))
    assert found is not None, f"{document.name} has no capability matrix between the markers"
    assert found == _matrix.render_markdown(), (
        f"{document.name}'s capability matrix is stale: run "
        "`python -m visualsearch_sdk._matrix README.md docs/capabilities.md`"
    )


def test_refresh_rewrites_only_the_matrix() -> None:
    document = f"before\n{_matrix.BEGIN}\n| stale |\n{_matrix.END}\nafter\n"
    fresh = _matrix.refresh(document)
    assert fresh.startswith("before\n") and fresh.endswith("\nafter\n")
    assert _matrix.embedded(fresh) == _matrix.render_markdown()
    assert _matrix.refresh(fresh) == fresh
    with pytest.raises(ValueError, match="markers"):
        _matrix.refresh("no markers here")


def test_the_check_fails_on_a_matrix_that_differs_from_the_code() -> None:
    table = _matrix.render_markdown()
    lying = table.replace("| search by colour | yes | — |", "| search by colour | yes | yes |", 1)
    assert lying != table
    assert _matrix.embedded(f"x\n{_matrix.BEGIN}\n{lying}\n{_matrix.END}\n") != table


def test_every_capability_has_a_row_and_every_cell_follows_the_adapter() -> None:
    rows = _matrix.render_markdown().splitlines()[2:]
    assert len(rows) == len(Capability)
    names = list(_matrix.capability_matrix())
    for capability, row in zip(Capability, rows):
        cells = [c.strip() for c in row.strip("|").split("|")][1:]
        for name, cell in zip(names, cells):
            assert (cell == "yes") == (capability in get_adapter(name).capabilities), (capability, name)


def test_the_cli_prints_the_matrix_and_its_json() -> None:
    import json

    from typer.testing import CliRunner

    from visualsearch_sdk.cli import app

    table = CliRunner().invoke(app, ["capabilities"])
    assert table.exit_code == 0 and table.stdout.strip() == _matrix.render_markdown()
    as_json = json.loads(CliRunner().invoke(app, ["capabilities", "--json"]).stdout)
    assert "search_by_color" in as_json["visearch"] and "search_by_color" not in as_json["alibaba"]
