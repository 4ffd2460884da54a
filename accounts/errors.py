"""Domain errors. The HTTP boundary (api/exceptions.py) turns them into the one error shape."""


class DomainValidationError(Exception):
    """Bad input, with the failing field paths: {"responses.0.answers.item9": [(code, detail)]}."""

    def __init__(self, errors: dict[str, list[tuple[str, str]]]):
        super().__init__(f"{sum(len(v) for v in errors.values())} invalid field(s)")
        self.errors = errors

    @classmethod
    def single(cls, attr: str, code: str, detail: str) -> "DomainValidationError":
        return cls({attr: [(code, detail)]})


class ConflictError(Exception):
    """The request clashes with stored state (e.g. an idempotency key reused with other content)."""

    def __init__(self, detail: str, code: str = "conflict"):
        super().__init__(detail)
        self.detail = detail
        self.code = code


class NotFoundError(Exception):
    """The object does not exist or is outside the caller's reach (never say which)."""
