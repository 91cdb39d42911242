"""What the command line prints for a failure it knows: one line, a hint, an exit code."""

from __future__ import annotations

from dataclasses import dataclass

from llamaswap.errors import (
    AuthenticationError,
    DSNError,
    LlamaSwapConnectionError,
    LlamaSwapError,
    ModelLoadError,
    NotFoundError,
    RateLimitError,
    UnsupportedFeatureError,
    UpstreamError,
)

EXIT_OK = 0
EXIT_ERROR = 1  # llama-swap refused, failed or could not be reached
EXIT_USAGE = 2  # the command line itself is wrong (argparse uses 2 too)
EXIT_INTERRUPTED = 130  # Ctrl-C, as a shell reports SIGINT

INSTALL_HINT = "pip install 'llamaswap[cli]'"


class UsageError(Exception):
    """The command cannot run as asked; exit 2 (or ``code``) with the message and a hint."""

    def __init__(self, message: str, hint: str, *, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.code = code


class Interrupted(Exception):  # noqa: N818 - it is not an error, it is what the user asked for
    """Ctrl-C, with a note on what llama-swap is left doing; exit 130."""

    def __init__(self, note: str) -> None:
        super().__init__(note)
        self.note = note


@dataclass(frozen=True)
class Failure:
    """A known failure as the user sees it."""

    message: str
    hint: str
    code: int


def explain(exc: BaseException, *, base_url: str, keyed: bool) -> Failure | None:
    """The line and hint for a known failure, or ``None`` for a bug (shown as a traceback)."""
    if isinstance(exc, UsageError):
        return Failure(exc.message, exc.hint, exc.code)
    if not isinstance(exc, LlamaSwapError):
        return None
    message = " ".join(str(exc).split())  # one line, whatever the server sent
    if isinstance(exc, DSNError):
        return Failure(
            message,
            "give --dsn or LLAMASWAP_DSN as llama-swap://[key@]host[:port]",
            EXIT_USAGE,
        )
    if isinstance(exc, AuthenticationError):
        hint = (
            "the key was refused: check the key in --dsn / LLAMASWAP_DSN against "
            "llama-swap's apiKeys"
            if keyed
            else "this llama-swap needs a key: --dsn llama-swap://KEY@host:port "
            "(or set LLAMASWAP_DSN)"
        )
        return Failure(message, hint, EXIT_ERROR)
    if isinstance(exc, LlamaSwapConnectionError):
        return Failure(
            message,
            f"tried {base_url}: start llama-swap there, or point --dsn / LLAMASWAP_DSN at it",
            EXIT_ERROR,
        )
    if isinstance(exc, ModelLoadError):
        target = f" {exc.model}" if exc.model else ""
        return Failure(
            message,
            f"`llamaswap logs{target}` shows what the model's server printed",
            EXIT_ERROR,
        )
    if isinstance(exc, NotFoundError):
        return Failure(message, "`llamaswap models` lists the models llama-swap serves", EXIT_ERROR)
    if isinstance(exc, RateLimitError):
        return Failure(message, "wait for the model's other requests, then retry", EXIT_ERROR)
    if isinstance(exc, UnsupportedFeatureError):
        return Failure(message, "upgrade llama-swap", EXIT_ERROR)
    if isinstance(exc, UpstreamError):
        return Failure(message, "`llamaswap logs` shows llama-swap's log", EXIT_ERROR)
    return Failure(message, "`llamaswap logs` shows llama-swap's log", EXIT_ERROR)
