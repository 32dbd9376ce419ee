"""The one base class of mixsig's own errors: bad input that the user can fix.

Every error mixsig raises on purpose for bad input — a config field out of range, a missing or
corrupt data, checkpoint, frame or map file, a run folder a resume cannot use — derives from
`MixsigError` (itself a `ValueError`, so existing ``except ValueError`` keeps working). Its
message names the field or file and what is allowed; the command line prints it and exits
with status 2, never a traceback. Anything else that escapes is a bug.
"""

from __future__ import annotations


class MixsigError(ValueError):
    """Bad input, explained: the message names the field or file and what is allowed."""


__all__ = ["MixsigError"]
