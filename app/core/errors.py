"""The one exception core functions raise for bad input; the web layer maps it to a 422."""

from __future__ import annotations


class InputError(ValueError):
    """A value that cannot be used; `message` says what is wrong and what is allowed, `field`
    names the setting at fault (the page shows the message beside that control)."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
