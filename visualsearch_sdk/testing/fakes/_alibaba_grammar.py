"""The fake Alibaba server's reading of a ``Filter`` string (VENDORS.md §4.3), into our filter AST.

Grammar (what the docs show, plus grouping)::

    expr      := term ("OR" term)*
    term      := factor ("AND" factor)*
    factor    := "(" expr ")" | condition          parentheses: [?] undocumented, accepted unless turned off
    condition := INT_SLOT (">" | ">=" | "<" | "<=" | "=") INTEGER
               | STR_SLOT ("=" | "!=") "double-quoted string"

``AND`` binds tighter than ``OR`` [?]. Slot names are read case-insensitively and with or without underscores
(the docs write ``int_attr``, the SDK ``IntAttr``, a console example ``intAttr``) [doc]. Keywords are
case-insensitive [?]. At most 256 characters. Anything else raises :class:`FilterClauseError`, which the fake
answers as ``InvalidFilterClause``.
"""

from __future__ import annotations

import re

from visualsearch_sdk.filters import And, Compare, CompareOp, Filter, Or

__all__ = ["INT_SLOTS", "MAX_FILTER_CHARS", "SLOTS", "STR_SLOTS", "FilterClauseError", "parse_clause"]

SLOTS = ("IntAttr", "IntAttr2", "IntAttr3", "IntAttr4", "StrAttr", "StrAttr2", "StrAttr3", "StrAttr4")
INT_SLOTS = frozenset(SLOTS[:4])
STR_SLOTS = frozenset(SLOTS[4:])
MAX_FILTER_CHARS = 256  # VENDORS §4.3
_BY_KEY = {s.lower(): s for s in SLOTS}
_TOKEN = re.compile(
    r'\s*(?:(?P<lp>\()|(?P<rp>\))|(?P<op>>=|<=|!=|>|<|=)|(?P<str>"[^"]*")|(?P<int>-?\d+)'
    r"|(?P<word>[A-Za-z_][A-Za-z0-9_]*))"
)
_OPS: dict[str, CompareOp] = {">": "gt", ">=": "ge", "<": "lt", "<=": "le", "=": "eq", "!=": "ne"}


class FilterClauseError(ValueError):
    """The filter string is outside the grammar."""


def parse_clause(text: str, *, parentheses: bool = True) -> Filter:
    """The filter AST of a ``Filter`` string over the slot names (``IntAttr``...).

    Raises:
        FilterClauseError: outside the grammar, or longer than 256 characters.
    """
    if len(text) > MAX_FILTER_CHARS:
        raise FilterClauseError(f"the filter is longer than {MAX_FILTER_CHARS} characters")
    tokens = _tokens(text)
    parser = _Parser(tokens, parentheses=parentheses)
    node = parser.expr()
    if parser.pos != len(tokens):
        raise FilterClauseError(f"unexpected {tokens[parser.pos][1]!r}")
    return node


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise FilterClauseError(f"cannot read the filter at {text[pos : pos + 20]!r}")
        kind = match.lastgroup or ""
        out.append((kind, match.group(kind)))
        pos = match.end()
    if not out:
        raise FilterClauseError("the filter is empty")
    return out


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]], *, parentheses: bool) -> None:
        self.tokens, self.pos, self.parentheses = tokens, 0, parentheses

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _take(self) -> tuple[str, str]:
        token = self._peek()
        if token is None:
            raise FilterClauseError("the filter ends too early")
        self.pos += 1
        return token

    def _keyword(self, word: str) -> bool:
        token = self._peek()
        if token is not None and token[0] == "word" and token[1].upper() == word:
            self.pos += 1
            return True
        return False

    def expr(self) -> Filter:
        parts = [self.term()]
        while self._keyword("OR"):
            parts.append(self.term())
        return parts[0] if len(parts) == 1 else Or(tuple(parts))

    def term(self) -> Filter:
        parts = [self.factor()]
        while self._keyword("AND"):
            parts.append(self.factor())
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def factor(self) -> Filter:
        token = self._peek()
        if token is not None and token[0] == "lp":
            if not self.parentheses:
                raise FilterClauseError("parentheses are not supported")
            self.pos += 1
            node = self.expr()
            if self._take()[0] != "rp":
                raise FilterClauseError("a '(' is not closed")
            return node
        return self.condition()

    def condition(self) -> Filter:
        kind, name = self._take()
        slot = _BY_KEY.get(name.lower().replace("_", "")) if kind == "word" else None
        if slot is None:
            raise FilterClauseError(f"{name!r} is not a filterable attribute")
        kind, symbol = self._take()
        if kind != "op":
            raise FilterClauseError(f"an operator must follow {slot}, not {symbol!r}")
        kind, literal = self._take()
        op = _OPS[symbol]
        if slot in INT_SLOTS:
            if kind != "int" or op == "ne":
                raise FilterClauseError(f"{slot} takes > >= < <= = and an integer")
            return Compare(slot, op, int(literal))
        if kind != "str" or op not in ("eq", "ne"):
            raise FilterClauseError(f'{slot} takes = or != and a "quoted string"')
        return Compare(slot, op, literal[1:-1])
