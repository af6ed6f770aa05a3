"""User errors: the run stops with ONE line on stderr and exit status 2, no traceback.

Anything else (a bug) keeps its traceback. Raise `UserError` only for a bad setting or bad input the user can fix.
"""
from __future__ import annotations

import difflib

EXIT_USER_ERROR = 2


class UserError(Exception):
  """A bad setting or input: the message is one line naming the bad value and what is accepted."""


class DivergedError(UserError):
  """A non-finite loss; the last good checkpoint is kept."""


def unknown(kind: str, value, accepted) -> UserError:
  """`unknown optimizer 'adamm'; accepted: adam, adamw, ...` (with a close match first when there is one)."""
  accepted = sorted(accepted)
  close = difflib.get_close_matches(str(value), accepted, n=1, cutoff=0.6)
  hint = f" (did you mean {close[0]!r}?)" if close else ""
  return UserError(f"unknown {kind} {value!r}{hint}; accepted: {', '.join(accepted)}")


def check_name(kind: str, value, accepted) -> None:
  if value not in accepted:
    raise unknown(kind, value, accepted)
