"""Text normalisation of ids, codes and headers, and showing invisible characters.

Real exports carry characters nobody typed on purpose: a zero-width space pasted from a web
page, a byte-order mark at the start of a cell, a non-breaking space from a word processor, a
line break typed with Alt+Enter inside a header, and three or four different middle dots
(``·`` U+00B7, ``ㆍ`` U+318D, ``・`` U+30FB …). This module holds the one set of rules the
loader applies to them; everything is vectorised over the *distinct* texts of a column, so a
column of 18.7 M ratings costs a few hundred string operations.

* :func:`clean_cells` – every cell: Unicode NFKC (which includes NFC), then white space,
  zero-width characters, BOMs and non-breaking spaces removed at both edges. Characters inside
  a text are kept (an id ``D0<U+200B>01`` stays as written and is reported where it does not
  match).
* :func:`fold_header` – a header, sheet or file name: NFKC, every zero-width character and BOM
  removed (anywhere), line breaks and runs of white space made one space, middle-dot variants
  made ``·``.
* :func:`visible` – a text for a message: each invisible or non-printing character written as
  ``<U+200B>`` so that ``'D001<U+200B>'`` and ``'D001'`` look different on screen.
"""

from __future__ import annotations

import itertools
import re
import unicodedata

import numpy as np
import pandas as pd

#: Characters that take no space on screen: zero-width space/joiners, word joiner, BOM,
#: soft hyphen, Mongolian vowel separator, bidi marks.
ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e\u200e\u200f\u202a-\u202e\u2066-\u2069"
#: Edge characters removed from every cell (white space incl. NBSP, plus zero-width).
_EDGES = re.compile(rf"^[\s{ZERO_WIDTH}]+|[\s{ZERO_WIDTH}]+$")
_ZERO_WIDTH_ANY = re.compile(rf"[{ZERO_WIDTH}]")
_SPACES = re.compile(r"\s+")
#: Middle-dot variants folded to ``·`` (U+00B7) in headers and codes (U+119E is what NFKC makes
#: of the Hangul ``ㆍ`` U+318D).
MIDDLE_DOTS = "\u00b7\u318d\u119e\u30fb\uff65\u2027\u2219\u22c5\u0387"
_DOTS = re.compile(f"[{MIDDLE_DOTS}]")


#: Separator of :func:`joined_texts`: NUL is a stable starter for Unicode normalisation (nothing
#: composes with it), is not white space and is matched by none of the patterns used on the
#: joined text except as the separator, so a match never spans two texts.
SEP = "\x00"
#: A text that starts or ends with a character :data:`_EDGES` removes, in a joined text (the
#: separator comes first so that the regular-expression engine looks only at the characters
#: around separators and white space).
_EDGE_AT = re.compile(rf"{SEP}[\s{ZERO_WIDTH}]|[\s{ZERO_WIDTH}](?={SEP})")


def joined_texts(texts: list[str]) -> tuple[str, np.ndarray]:
    """``(joined, starts)``: the texts joined by :data:`SEP`, with a :data:`SEP` before the first
    and after the last, and the offset of the separator in front of each text (plus the end), so
    that one regular-expression pass over ``joined`` looks at every text (see
    :func:`texts_matching`). Text ``i`` is ``joined[starts[i] + 1:starts[i + 1]]``."""
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    starts = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(lengths + 1, out=starts[1:])
    return SEP + SEP.join(texts) + SEP, starts


def texts_matching(pattern: re.Pattern, joined: str, starts: np.ndarray) -> np.ndarray:
    """Positions (sorted, distinct) of the texts of ``joined`` (:func:`joined_texts`) where
    ``pattern`` finds a match: a match that starts on the separator in front of a text or inside
    it belongs to that text (the pattern may consume the separator in front, never the one after)."""
    at = [m.start() for m in pattern.finditer(joined)]
    if not at:
        return np.zeros(0, dtype=np.int64)
    return np.unique(np.searchsorted(starts, np.asarray(at, dtype=np.int64), side="right") - 1)


def clean_cells(s: pd.Series, form: str = "NFKC") -> pd.Series:
    """Normalise text cells (Unicode ``form``) and strip white space and zero-width characters
    at the edges.

    Vectorised; missing values stay missing. Returns a ``str`` Series. ``form="NFC"`` keeps
    compatibility characters such as ``㎍`` (free text of published tables).

    Same result as ``s.str.normalize(form).str.replace(_EDGES, "")`` cell by cell, but only the
    texts that change are touched: the texts are joined once (:func:`joined_texts`); one C call
    tells whether all are already normalised and one regular-expression pass finds the texts
    with something to strip at an edge.
    """
    s = s.astype("str")
    vals = s.to_numpy(dtype=object)
    present = s.notna().to_numpy()
    texts = vals[present].tolist()
    if not texts:
        return s
    joined, starts = joined_texts(texts)
    todo = texts_matching(_EDGE_AT, joined, starts)
    if not unicodedata.is_normalized(form, joined):
        normalised = np.fromiter(map(unicodedata.is_normalized, itertools.repeat(form, len(texts)), texts),
                                 dtype=bool, count=len(texts))
        todo = np.union1d(todo, np.flatnonzero(~normalised))
    if not len(todo):
        return s
    where = np.flatnonzero(present)[todo]
    out = vals.copy()
    out[where] = [_EDGES.sub("", unicodedata.normalize(form, texts[i])) for i in todo.tolist()]
    return pd.Series(out, index=s.index, name=s.name, dtype="str")


def clean_text(text: str) -> str:
    """:func:`clean_cells` of one text."""
    return _EDGES.sub("", unicodedata.normalize("NFKC", str(text)))


def fold_header(text: str) -> str:
    """A header (or sheet/file name) as matched: NFKC, no zero-width characters, line breaks
    and white-space runs as one space, middle-dot variants as ``·``, stripped."""
    s = unicodedata.normalize("NFKC", str(text))
    s = _ZERO_WIDTH_ANY.sub("", s)
    s = _DOTS.sub("\u00b7", s)
    return _SPACES.sub(" ", s).strip()


def fold_dots(s: pd.Series) -> pd.Series:
    """Middle-dot variants of a text column made ``·`` (vectorised)."""
    return s.str.replace(_DOTS, "\u00b7", regex=True)


def _shown(ch: str) -> str:
    if ch == " ":
        return ch
    cat = unicodedata.category(ch)
    if cat in ("Cf", "Cc", "Zs", "Zl", "Zp", "Co", "Cn") or ch in "\u3164\u115f\u1160":
        return f"<U+{ord(ch):04X}>"
    return ch


def visible(text: object) -> str:
    """``text`` with every invisible or non-printing character shown as ``<U+XXXX>``.

    Ordinary spaces stay; ``"D001\\u200b"`` becomes ``"D001<U+200B>"``, a non-breaking space
    ``<U+00A0>``, a line break ``<U+000A>``.
    """
    s = str(text)
    if s.isascii() and s.isprintable():
        return s
    return "".join(_shown(ch) for ch in s)


def has_invisible(text: object) -> bool:
    """Whether :func:`visible` would change ``text``."""
    return visible(text) != str(text)
