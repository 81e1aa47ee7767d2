"""Names and values in messages: what a declaration may call things, and how a bad value is shown."""

from __future__ import annotations

from ..errors import SpecError


def digits(text: str) -> bool:
    """ASCII digits only: ``"²".isdigit()`` is True, and ``int("²")`` fails."""
    return text.isascii() and text.isdigit()


MAX_NAME = 64


def check_identifier(name: object, what: str, example: str) -> None:
    """A name that may reach generated code: a plain ASCII identifier, or a SpecError.

    The network's name stands in the generated module's comments and docstring; a name with a
    newline in it would be code there. Names are identifiers or refused, never escaped.
    """
    if (
        not isinstance(name, str)
        or not name.isascii()
        or not name.isidentifier()
        or len(name) > MAX_NAME
    ):
        raise SpecError(
            f"{what} must be a plain identifier of at most {MAX_NAME} letters, digits and "
            f"underscores, {example}; got {short(name)}"
        )


def short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


__all__ = ["MAX_NAME", "check_identifier", "digits", "short"]
