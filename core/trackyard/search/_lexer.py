"""The lexer of search filters and order_by clauses (see :mod:`trackyard.search.parser`)."""

from __future__ import annotations

import re
from dataclasses import dataclass

_WS = "ws"
_SQ = "single-quoted"
_DQ = "double-quoted"
_BT = "backtick-quoted"
_NUMBER = "number"
_OP = "operator"
_LPAREN = "("
_RPAREN = ")"
_COMMA = ","
_WORD = "word"
_EOF = "eof"
_ERROR = "error"

_TOKEN_RE = re.compile(
    r"""
      (?P<ws>\s+)
    | (?P<sq>'(?:[^']|'')*')
    | (?P<dq>"(?:[^"]|"")*")
    | (?P<bt>`(?:[^`]|``)*`)
    | (?P<number>[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)
    | (?P<op><=|>=|!=|==|<>|=|<|>|!)
    | (?P<lparen>\()
    | (?P<rparen>\))
    | (?P<comma>,)
    | (?P<word>[^\W\d][\w.:/-]*)
    """,
    re.VERBOSE,
)
_GROUP_KIND = {
    "ws": _WS,
    "sq": _SQ,
    "dq": _DQ,
    "bt": _BT,
    "number": _NUMBER,
    "op": _OP,
    "lparen": _LPAREN,
    "rparen": _RPAREN,
    "comma": _COMMA,
    "word": _WORD,
}
_QUOTE_KINDS = {_SQ: "'", _DQ: '"', _BT: "`"}
_INTEGER_RE = re.compile(r"[+-]?\d+")
_KEYWORDS = frozenset({"AND", "OR", "NOT", "IN", "IS", "LIKE", "ILIKE", "RLIKE", "NULL"})


@dataclass(frozen=True, slots=True)
class _Token:
    """One lexical token: ``value`` is the unquoted text of quoted tokens, or an error."""

    kind: str
    text: str
    pos: int
    end: int
    value: str = ""

    def describe(self) -> str:
        if self.kind == _EOF:
            return "end of input"
        shown = self.text if len(self.text) <= 40 else self.text[:37] + "..."
        if self.kind in (_SQ, _DQ):
            return f"string {shown}"
        if self.kind == _BT:
            return f"quoted key {shown}"
        if self.kind == _NUMBER:
            return f"number {shown}"
        return f"'{shown}'"

    def is_word(self, *words: str) -> bool:
        return self.kind == _WORD and self.text.upper() in words


def _tokenize(text: str) -> list[_Token]:
    """Split ``text`` into tokens, ending with an EOF token or the first lexical error.

    An error becomes an ``_ERROR`` token rather than an exception so that errors are
    reported left to right: the parser raises it only when it gets there.
    """
    tokens: list[_Token] = []
    pos, length = 0, len(text)
    match = _TOKEN_RE.match
    while pos < length:
        m = match(text, pos)
        if m is None:
            char = text[pos]
            if char in "'\"`":
                detail = f"unterminated quote {char}"
            else:
                detail = f"unexpected character {char!r}"
            tokens.append(_Token(_ERROR, char, pos, pos + 1, detail))
            return tokens
        group = m.lastgroup
        assert group is not None
        end = m.end()
        kind = _GROUP_KIND[group]
        if kind == _WS:
            pos = end
            continue
        raw = m.group()
        if kind == _NUMBER and end < length and (text[end].isalnum() or text[end] in "_."):
            bad = re.match(r"[\w.]*", text[end:])
            shown = raw + (bad.group() if bad else "")
            tokens.append(_Token(_ERROR, shown, pos, end, f"malformed number '{shown}'"))
            return tokens
        value = ""
        if kind in _QUOTE_KINDS:
            quote = _QUOTE_KINDS[kind]
            value = raw[1:-1].replace(quote * 2, quote)
        tokens.append(_Token(kind, raw, pos, end, value))
        pos = end
    tokens.append(_Token(_EOF, "", length, length))
    return tokens
