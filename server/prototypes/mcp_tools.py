"""The mock MCP tool set: deterministic JSON-in, JSON-out tools shared by the MCP prototype and ``/api/mock``."""

from __future__ import annotations

import ast
import math
import operator
import re
from collections.abc import Callable
from typing import Annotated, Any, Literal, NamedTuple

import msgspec

ToolName = Literal["search", "summarize", "translate", "calculator"]


class ToolError(Exception):
    """The input had the right shape but the tool cannot use it (e.g. a division by zero)."""


class SearchInput(msgspec.Struct, forbid_unknown_fields=True):
    query: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    limit: Annotated[int, msgspec.Meta(ge=1, le=10)] = 3


class SummarizeInput(msgspec.Struct, forbid_unknown_fields=True):
    text: Annotated[str, msgspec.Meta(min_length=1, max_length=20_000)]
    max_sentences: Annotated[int, msgspec.Meta(ge=1, le=10)] = 2


class TranslateInput(msgspec.Struct, forbid_unknown_fields=True):
    text: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]
    target: Literal["es", "fr", "de"]


class CalculatorInput(msgspec.Struct, forbid_unknown_fields=True):
    expression: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


_CORPUS = [
    ("replicas", "Sensay replicas", "A replica is an AI copy of a person's knowledge, voice and style of answering."),
    ("memory", "Replica memory", "Replicas remember conversations, so each answer builds on the memory of the last."),
    ("tokens", "The SNSY token", "SNSY tokens can be staked to unlock premium memories and to evolve a replica."),
    ("voice", "Voice calls", "Pure Voice lets a user call a replica by phone and hear a streamed transcript."),
    ("bonding", "Bonding replicas", "Bonded replicas share one memory pool and answer with each other's knowledge."),
    ("chatrooms", "Chatrooms", "Several users and replicas talk in one room; the mode decides who speaks next."),
    ("mcp", "Model Context Protocol", "MCP connects a replica to tools: JSON goes in, JSON comes out, step by step."),
    ("tasks", "Task memory", "A replica can keep your task list: add, complete and delete tasks while chatting."),
]
_WORD = re.compile(r"[\w']+")


def search(params: SearchInput) -> dict[str, Any]:
    terms = {w.lower() for w in _WORD.findall(params.query)}
    scored: list[tuple[int, str, str, str]] = []
    for doc_id, title, text in _CORPUS:
        words = [w.lower() for w in _WORD.findall(f"{title} {text}")]
        score = sum(words.count(t) for t in terms)
        if score:
            scored.append((-score, doc_id, title, text))
    scored.sort()
    results = [
        {"id": doc_id, "title": title, "snippet": text, "score": -score}
        for score, doc_id, title, text in scored[: params.limit]
    ]
    return {"query": params.query, "total": len(scored), "results": results}


def summarize(params: SummarizeInput) -> dict[str, Any]:
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", params.text.strip()) if s]
    return {
        "summary": " ".join(sentences[: params.max_sentences]),
        "sentences": len(sentences),
        "words": len(params.text.split()),
        "characters": len(params.text),
    }


_GLOSSARY: dict[str, dict[str, str]] = {
    "es": {"hello": "hola", "world": "mundo", "friend": "amigo", "good": "bueno", "morning": "mañana",
           "thank": "gracias", "you": "tú", "yes": "sí", "no": "no", "the": "el", "memory": "memoria",
           "replica": "réplica", "task": "tarea", "token": "ficha", "voice": "voz", "is": "es", "and": "y"},
    "fr": {"hello": "bonjour", "world": "monde", "friend": "ami", "good": "bon", "morning": "matin",
           "thank": "merci", "you": "vous", "yes": "oui", "no": "non", "the": "le", "memory": "mémoire",
           "replica": "réplique", "task": "tâche", "token": "jeton", "voice": "voix", "is": "est", "and": "et"},
    "de": {"hello": "hallo", "world": "Welt", "friend": "Freund", "good": "gut", "morning": "Morgen",
           "thank": "danke", "you": "du", "yes": "ja", "no": "nein", "the": "der", "memory": "Gedächtnis",
           "replica": "Replik", "task": "Aufgabe", "token": "Token", "voice": "Stimme", "is": "ist", "and": "und"},
}  # fmt: skip


def translate(params: TranslateInput) -> dict[str, Any]:
    glossary = _GLOSSARY[params.target]
    untranslated: list[str] = []

    def swap(match: re.Match[str]) -> str:
        word = match[0]
        found = glossary.get(word.lower())
        if found is None:
            untranslated.append(word)
            return word
        return found[0].upper() + found[1:] if word[0].isupper() else found

    translation = _WORD.sub(swap, params.text)
    return {"translation": translation, "target": params.target, "untranslated": untranslated}


_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type, Callable[[Any], Any]] = {ast.UAdd: operator.pos, ast.USub: operator.neg}
_MAX_EXPONENT = 64
_MAX_MAGNITUDE = 2**63 - 1


def calculator(params: CalculatorInput) -> dict[str, Any]:
    try:
        tree = ast.parse(params.expression, mode="eval")
    except SyntaxError:
        raise ToolError("the expression is not valid arithmetic") from None
    result = _evaluate(tree.body)
    return {"expression": params.expression, "result": result}


def _evaluate(node: ast.expr) -> int | float:
    # Only numbers and arithmetic: nothing else in the tree is ever evaluated.
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(node.value, bool):
        if not math.isfinite(node.value) or abs(node.value) > _MAX_MAGNITUDE:
            raise ToolError("the number is too large")
        return node.value
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_evaluate(node.operand))  # type: ignore[no-any-return]
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _evaluate(node.left), _evaluate(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > _MAX_EXPONENT:
            raise ToolError(f"exponents are limited to {_MAX_EXPONENT}")
        try:
            value = _BINARY[type(node.op)](left, right)
        except ZeroDivisionError:
            raise ToolError("division by zero") from None
        except OverflowError:
            raise ToolError("the result is too large") from None
        # Checked at every step, so no intermediate big number can cost real time or fail to encode as JSON.
        if not math.isfinite(value) or abs(value) > _MAX_MAGNITUDE:
            raise ToolError("the result is too large")
        return value  # type: ignore[no-any-return]
    raise ToolError("only numbers, + - * / // % ** and parentheses are allowed")


class Tool(NamedTuple):
    input: type[msgspec.Struct]
    steps: tuple[str, ...]
    run: Callable[[Any], dict[str, Any]]
    summary: str


TOOLS: dict[str, Tool] = {
    "search": Tool(SearchInput, ("parse_query", "search_index", "rank_results"), search, "Search the knowledge base"),
    "summarize": Tool(SummarizeInput, ("split_sentences", "select_sentences"), summarize, "Summarise a text"),
    "translate": Tool(TranslateInput, ("tokenize", "lookup_glossary", "assemble"), translate, "Translate by glossary"),
    "calculator": Tool(CalculatorInput, ("parse_expression", "evaluate"), calculator, "Evaluate arithmetic"),
}
