"""The one error type users catch: bad input to a KL computation."""

from __future__ import annotations


class KLInputError(ValueError):
    """Input that has no KL divergence, or that klverify cannot compute honestly.

    The message names the argument and the problem and says what to do. It is a
    ``ValueError`` so code that already catches those keeps working.
    """


class BackendNotInstalledError(KLInputError):
    """A backend was asked for whose framework is not installed."""

    def __init__(self, backend: str, extra: str) -> None:
        self.backend = backend
        self.extra = extra
        super().__init__(
            f"backend={backend!r} is not installed: install it with `pip install klverify[{extra}]`"
        )
