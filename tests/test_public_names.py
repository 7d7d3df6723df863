"""The public surface: one `__all__`, and every `ptc.<name>` that README.md, docs/ and the notebooks
use exists (a name the README shows but the package lacks is a broken promise)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import ptc_jupyter as ptc

ROOT = Path(__file__).resolve().parents[1]
USED = re.compile(r"\bptc\.([A-Za-z_]\w*)")


def documents() -> list[Path]:
    return [
        ROOT / "README.md",
        *sorted((ROOT / "docs").glob("*.md")),
        *sorted((ROOT / "notebooks").glob("*.ipynb")),
        *sorted((ROOT / "examples").glob("*.py")),
    ]


def names_used(path: Path) -> set[str]:
    if path.suffix == ".ipynb":  # the cells' sources, not their saved outputs
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        text = "\n".join("".join(c["source"]) for c in cells)
    else:
        text = path.read_text(encoding="utf-8")
    return {n for n in USED.findall(text) if not n.startswith("__")}


@pytest.mark.parametrize("path", documents(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_name_a_document_uses_exists(path):
    missing = sorted(n for n in names_used(path) if not hasattr(ptc, n))
    assert not missing, f"{path.name} uses ptc.{', ptc.'.join(missing)}, which the package does not have"


def test_the_documents_use_the_public_names():
    used = set().union(*(names_used(p) for p in documents()))
    assert {"run", "arun", "tool", "Conversation", "mcp"} <= used  # the scan reads what it should


def test_all_lists_exactly_the_public_names_and_each_resolves():
    assert len(ptc.__all__) == len(set(ptc.__all__))
    for name in ptc.__all__:
        assert getattr(ptc, name, None) is not None or name == "last", name
    assert set(ptc.__all__) <= set(dir(ptc))


def test_conversation_from_the_top_carries_a_second_turn():
    conversation = ptc.Conversation()
    registry = ptc.ToolRegistry()

    @ptc.tool(registry=registry)
    def double(x: int) -> int:
        """Twice x.

        Args:
            x: A number.
        """
        return 2 * x

    first = ptc.run(
        "```python\nprint(await double({'x': 4}))\n```", tools=list(registry), offline=True, conversation=conversation
    )
    second = ptc.run("```python\nprint('again')\n```", tools=list(registry), offline=True, conversation=conversation)
    assert first.status == second.status == "completed", (first.error, second.error)
    assert [t.number for t in conversation.turns] == [1, 2]
    assert first.calls[0].output == "8"


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        ptc.nope  # noqa: B018
