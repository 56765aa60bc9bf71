"""Exceptions raised for bad user input, and the hints their messages carry.

The CLI turns these exceptions into one-paragraph messages. :func:`did_you_mean`
is the one place that suggests the nearest valid name for a misspelt one.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class PinnlabError(Exception):
    """Base class of every error pinnlab reports to a user."""


class SpecError(PinnlabError):
    """A PDE specification (equations, coordinates, domain, conditions) is invalid."""


class ConfigError(PinnlabError):
    """A configuration file or dictionary is invalid."""


class SolverError(PinnlabError):
    """A solve could not continue (for example a non-finite loss)."""


def closest(name: object, choices: Iterable[str]) -> str | None:
    """The choice most similar to ``name`` (``difflib`` similarity of at least 0.6), or None."""
    close = difflib.get_close_matches(str(name), [str(c) for c in choices], n=1)
    return close[0] if close else None


def did_you_mean(name: object, choices: Iterable[str], *, listing: str | None = None) -> str:
    """A hint to append to a message about the unknown ``name``.

    `` (did you mean 'x'?)`` names the nearest of ``choices``. Without a near one the
    hint is empty, or, when ``listing`` is given, ``" (<listing>: a, b, c)"`` lists the
    choices (``listing="valid keys"``); with no choices at all it is always empty.
    """
    options = [str(c) for c in choices]
    near = closest(name, options)
    if near is not None:
        return f" (did you mean '{near}'?)"
    if listing is not None and options:
        return f" ({listing}: {', '.join(options)})"
    return ""
