"""What can go wrong with a request, said in the labs' own words, without HTTP.

Services raise these; `app/http/errors.py` is the one place that turns them into a status and
the API's error shape, and the pages show `message` beside `field`. Each carries a machine code
(`code`), a sentence saying what was wrong and what is allowed (`message`) and, where one input
is to blame, its name (`field`).

Core functions raise their own plain exceptions (`InputError`, the image errors); `as_domain`
says which domain error each of them is, so there is one mapping, not one per caller.
"""

from __future__ import annotations

from app.core.errors import InputError
from app.core.images import CorruptImage, ImageError, ImageTooLarge, UnsupportedImageFormat


class DomainError(Exception):
    code = "error"

    def __init__(self, message: str, field: str | None = None, *, code: str | None = None
                 ) -> None:
        super().__init__(message)
        self.message, self.field = message, field
        if code is not None:
            self.code = code


class Invalid(DomainError):
    """A value that is not allowed (a kernel too large, a name taken, a corrupt file…)."""

    code = "invalid_value"


class TooLarge(Invalid):
    """An input larger than a limit (an image's pixels, an upload's bytes)."""

    code = "too_large"


class Unsupported(Invalid):
    """An input of a kind we do not take (an image format outside the allow-list)."""

    code = "unsupported_media_type"


class NotFound(DomainError):
    """No image, result, dataset, run or model with that id or name. `listing` names the kind
    of thing looked for ("datasets", "training-runs"…), so each face can say where the names
    that exist are listed."""

    code = "not_found"

    def __init__(self, message: str, field: str | None = None, *, listing: str | None = None
                 ) -> None:
        super().__init__(message, field)
        self.listing = listing


class Conflict(DomainError):
    """The action does not fit the thing's state (pause a finished run, delete a shipped
    model…)."""

    code = "conflict"


class Busy(DomainError):
    """No room now (the training queue is full); `retry_after` seconds is a fair wait."""

    code = "queue_full"

    def __init__(self, message: str, retry_after: int, field: str | None = None) -> None:
        super().__init__(message, field)
        self.retry_after = retry_after


class Forbidden(DomainError):
    """Someone else's: only its owner (or an admin) may do this."""

    code = "forbidden"


CORE_ERRORS = (InputError, ImageError)


def as_domain(exc: Exception) -> DomainError:
    """The domain error a core exception stands for (a DomainError is returned as it is)."""
    if isinstance(exc, DomainError):
        return exc
    if isinstance(exc, InputError):
        return Invalid(exc.message, exc.field)
    if isinstance(exc, UnsupportedImageFormat):
        return Unsupported(exc.message, "file")
    if isinstance(exc, ImageTooLarge):
        return TooLarge(exc.message, "file", code="image_too_large")
    if isinstance(exc, (CorruptImage, ImageError)):
        return Invalid(exc.message, "file", code="corrupt_image")
    raise TypeError(f"not an input error: {exc!r}")
