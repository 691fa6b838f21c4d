"""Who may change what, in shared mode (a class on one server, PLAYGROUND_SHARED=true).

Every visitor is an owner, named by a random id the HTTP layer keeps in a signed cookie. Runs,
uploaded datasets and saved models record the owner who made them. Anyone may list, watch,
inspect and use them; only their owner may pause, resume, cancel, save, delete them, and the
admin (the teacher, with the admin token) may do everything. Off shared mode there are no
owners and nothing is refused for being someone else's: one's own laptop is unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.services.errors import Busy, Forbidden
from app.settings import Settings


@dataclass(frozen=True)
class Actor:
    """Who makes a request: `owner` is None off shared mode."""

    owner: str | None = None
    admin: bool = False

    @property
    def shared(self) -> bool:
        return self.owner is not None

    def may_change(self, owner_of: str | None) -> bool:
        """Whether this actor may change a thing `owner_of` made (None: made before shared
        mode, or shipped: only the admin changes those in shared mode)."""
        return not self.shared or self.admin or owner_of == self.owner


LOCAL = Actor()  # off shared mode: everyone is the one user of their own laptop


def require_owner(actor: Actor, owner_of: str | None, thing: str, may: str, field: str
                  ) -> None:
    """Refuses (Forbidden) an actor who may not change `thing` (e.g. "run Xb3…"), saying what
    they may do instead (`may`: "watch it, inspect it and use its model")."""
    if actor.may_change(owner_of):
        return
    raise Forbidden(f"{thing} is not yours: you may {may}; only the visitor who made it (or "
                    "the teacher, with the admin token) may change or delete it", field)


@dataclass(frozen=True)
class UploadCaps:
    """Shared mode's fair share of stored uploads of one kind, per owner."""

    count: int
    bytes: int


def upload_caps(settings: Settings) -> UploadCaps:
    """One visitor's share of stored datasets (of each kind), in shared mode."""
    return UploadCaps(settings.max_datasets_per_owner, settings.max_upload_bytes_per_owner)


def check_room(actor: Actor, owned: list[int], adding: int, caps: UploadCaps | None,
               what: str) -> None:
    """Refuses (Busy: 429 for this owner only) an upload beyond the owner's share; `owned` are
    the sizes of what the owner keeps now. The admin and off-shared-mode users have no cap."""
    if caps is None or not actor.shared or actor.admin:
        return
    if len(owned) >= caps.count:
        raise Busy(f"you keep {len(owned)} {what}, the most one visitor may; delete one of "
                   "yours first (the others of the class can still upload theirs)",
                   retry_after=60, field="file")
    if sum(owned) + adding > caps.bytes:
        raise Busy(f"your {what} would hold {(sum(owned) + adding) / 1e6:.1f} MB, more than "
                   f"the {caps.bytes / 1e6:g} MB one visitor may keep; delete one of yours "
                   "first", retry_after=60, field="file")
