"""What bad model output raises: the error every dialect and reader shares.

Its own module, below both the readers (loose JSON, tool-call extraction, argument coercion) and the
dialects, so neither imports the other to name it. Bad output is data, not a crash: the loop records
a ParseError in the step and feeds its message back to the model.
"""

from __future__ import annotations


class ParseError(ValueError):
    """Model output that cannot become an action. The message is fed back to the model verbatim,
    so it says precisely what was wrong (unknown action, missing/extra argument, wrong type,
    coordinates outside the image) and, where useful, what is expected instead."""


class TruncatedOutputError(ParseError):
    """Output that ends in the middle of a call: inside a number, string, list, key or argument list.

    Never read as an action: the value the model was writing is unknown (``[100, 2`` may have been
    ``[100, 250]``), so closing it would invent one. The policy says whether the token limit cut it
    and asks for the whole call again."""


__all__ = ["ParseError", "TruncatedOutputError"]
