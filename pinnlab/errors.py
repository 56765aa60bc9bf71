"""Exceptions raised for bad user input; the CLI turns them into one-paragraph messages."""


class PinnlabError(Exception):
    """Base class of every error pinnlab reports to a user."""


class SpecError(PinnlabError):
    """A PDE specification (equations, coordinates, domain, conditions) is invalid."""


class ConfigError(PinnlabError):
    """A configuration file or dictionary is invalid."""


class SolverError(PinnlabError):
    """A solve could not continue (for example a non-finite loss)."""
