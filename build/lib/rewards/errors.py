"""One error hierarchy: expected business failures carry a status code and a message a person can act on."""

from typing import Any


class RewardsError(Exception):
    status_code = 400

    def __init__(self, message: str, *, status_code: int | None = None, detail: Any = None) -> None:
        super().__init__(message)
        self.message = message
        if status_code is not None:
            self.status_code = status_code
        self.detail = detail


class NotFound(RewardsError):
    status_code = 404


class Unauthorized(RewardsError):
    status_code = 401


class Forbidden(RewardsError):
    status_code = 403


class PayloadTooLarge(RewardsError):
    status_code = 413


class InvalidInput(RewardsError):
    status_code = 422


class RulesetError(RewardsError):
    """A rules file that cannot be used; `detail` lists every problem with file, line and rule id."""

    status_code = 422


class Conflict(RewardsError):
    """The request does not fit the current state (claiming an offer that is gone...)."""

    status_code = 409
