"""Text that may reach a column or a Redis key (contract §3 r2): no C0 or C1 control characters,
and what counts as blank (nothing visible once whitespace, zero-width and control characters are
set aside)."""
import re
import unicodedata

CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# Controls that separate words (tab, line breaks, NEL) become a space, so that "a\nb" keeps two words.
_SEPARATORS = re.compile(r"[\t\n\x0b\x0c\r\x85]+")
# Characters that draw nothing although they are letters or marks (Hangul fillers, the braille
# blank, the combining grapheme joiner): an id made of them only is as blank as one of spaces.
_FILLERS = frozenset("\u115f\u1160\u3164\uffa0\u2800\u034f")
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Zs", "Zl", "Zp"})


def has_control(text: str) -> bool:
    return not text.isprintable() and CONTROL.search(text) is not None


def clean(text: str) -> str:
    """`text` without control characters (word-separating ones become a space). isprintable() is a
    C loop that is true for nearly all text, so the regexes run only on the rare text that needs them."""
    if text.isprintable():
        return text
    return CONTROL.sub("", _SEPARATORS.sub(" ", text))


def _visible(char: str) -> bool:
    return char not in _FILLERS and unicodedata.category(char) not in _INVISIBLE_CATEGORIES


def is_blank(text: str) -> bool:
    """True when nothing in `text` would be seen: whitespace, zero-width and control characters only."""
    # No Cc, Cf or Z* but the ASCII space (isprintable), and no filler (none is ASCII: the set is not built).
    if text.isprintable() and (text.isascii() or not _FILLERS.intersection(text)):
        return not text.strip()
    return not any(_visible(char) for char in text)
