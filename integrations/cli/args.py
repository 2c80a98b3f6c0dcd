"""What the ``askloop`` subcommands' parsers share: argument types (argparse ``type=``
callables), the help formatter and the help texts of common options."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

__all__ = ["TENANT_HELP", "DefaultsHelpFormatter", "setting_default", "whole_number"]

#: ``--tenant`` of every command that reads or writes one tenant's data.
TENANT_HELP = "knowledge-base tenant (default: the settings' default_tenant, 'default')"


def setting_default(section: Any, field: str) -> Any:
    """The built-in default of a settings field (``SearchSettings``, "k" -> 5), for help
    texts that say what an option falls back to; reads no environment or file."""
    return section.model_fields[field].default


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """Help that names each option's default: added as ``(default: X)`` when the option
    has a real one and its text does not already say; an option whose default comes
    from the settings says so in its own text."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if (
            "default" in text
            or default in (None, False, argparse.SUPPRESS)
            or isinstance(action, argparse._VersionAction | argparse._HelpAction)
        ):
            return text
        return f"{text} (default: %(default)s)"


def whole_number(*, low: int = 1, high: int | None = None) -> Callable[[str], int]:
    """An argparse type: a whole number from ``low`` up to ``high`` (if given)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be {low} or more, got {value}")
        if high is not None and value > high:
            raise argparse.ArgumentTypeError(f"must be at most {high}, got {value}")
        return value

    return parse
