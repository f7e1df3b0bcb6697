"""The mock MCP tools on their own: deterministic outputs and refusals."""

from __future__ import annotations

import pytest

from server.prototypes.mcp_tools import (
    CalculatorInput,
    SearchInput,
    SummarizeInput,
    ToolError,
    TranslateInput,
    calculator,
    search,
    summarize,
    translate,
)


def test_search_ranks_by_matching_words() -> None:
    """The best match comes first, ties by id, cut to the limit; the total counts every match."""
    found = search(SearchInput("replica memory", limit=2))
    assert [r["id"] for r in found["results"]] == ["memory", "tasks"] and found["total"] == 7
    assert search(SearchInput("zebra")) == {"query": "zebra", "total": 0, "results": []}


def test_summarize_keeps_the_first_sentences() -> None:
    """The summary is the first sentences; counts describe the whole text."""
    assert summarize(SummarizeInput("One. Two! Three? Four.", max_sentences=2)) == {
        "summary": "One. Two!",
        "sentences": 4,
        "words": 4,
        "characters": 22,
    }


def test_translate_uses_the_glossary_and_keeps_unknown_words() -> None:
    """Known words are swapped keeping capitals; unknown words stay and are listed."""
    assert translate(TranslateInput("Hello world, dear friend!", "es")) == {
        "translation": "Hola mundo, dear amigo!",
        "target": "es",
        "untranslated": ["dear"],
    }


@pytest.mark.parametrize(("expression", "result"), [("(2+3)*4", 20), ("7 // 2", 3), ("-3 % 5", 2), ("2 ** -1", 0.5)])
def test_calculator_evaluates_arithmetic(expression: str, result: float) -> None:
    """Numbers, operators and parentheses are evaluated."""
    assert calculator(CalculatorInput(expression)) == {"expression": expression, "result": result}


@pytest.mark.parametrize(
    "expression", ["1/0", "9**9**9", "2**63", "1e400", "__import__('os')", "x + 1", "(1", "[1] * 3", "True + 1"]
)
def test_calculator_refuses_anything_else(expression: str) -> None:
    """Division by zero, huge numbers, names, calls and syntax errors are tool errors, never evaluated."""
    with pytest.raises(ToolError):
        calculator(CalculatorInput(expression))
