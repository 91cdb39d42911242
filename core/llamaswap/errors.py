"""One error hierarchy for everything llama-swap can answer, so callers branch on types.

``LlamaSwapError`` is the root. HTTP answers become :class:`APIError` or one of its
subclasses; transport failures become :class:`LlamaSwapConnectionError` or
:class:`LlamaSwapTimeoutError`; bodies that cannot be read become
:class:`ResponseDecodeError`. No message ever contains the API key.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class LlamaSwapError(Exception):
    """Base class of every error this package raises."""


class DSNError(LlamaSwapError, ValueError):
    """The DSN or URL given for llama-swap is malformed."""


class APIError(LlamaSwapError):
    """llama-swap (or the model server behind it) answered with an error status.

    Attributes:
        status_code: the HTTP status.
        message: the server's reason, as text.
        body: the response body as text (may be empty).
        url: the request URL (never contains the key).
    """

    # Annotated Any, not int and str: the classes that are also the OpenAI SDK's narrow
    # ``status_code`` to a literal (``Literal[404]``) and widen ``body`` to ``object``, and a
    # type checker accepts one class being both only when these two are left open.
    status_code: Any
    body: Any

    def __init__(self, message: str, *, status_code: int, body: str = "", url: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.body = body
        self.url = url

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status_code={self.status_code}, message={self.message!r})"


class AuthenticationError(APIError):
    """401: llama-swap has ``apiKeys`` set and the key is missing or wrong."""


class NotFoundError(APIError):
    """404: llama-swap serves no such model, or the server asked has no such route.

    Attributes:
        model: the requested model id, when known.
        available: the model ids llama-swap lists, when the model was the unknown part.
        route: the request path when the *route* was missing: on the model's own server
            (the model exists; e.g. an image request to a chat model), or in llama-swap
            itself (an endpoint this build lacks). ``None`` when the model was unknown.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int = 404,
        body: str = "",
        url: str = "",
        model: str | None = None,
        available: Sequence[str] = (),
        route: str | None = None,
    ) -> None:
        super().__init__(message, status_code=status_code, body=body, url=url)
        self.model = model
        self.available = tuple(available)
        self.route = route


class UnsupportedFeatureError(APIError):
    """This llama-swap build lacks the endpoint asked for (an older release).

    Attributes:
        endpoint: the missing endpoint as ``"METHOD /path"``, when known.
        since: the llama-swap release that added it (``"v241"``), when known; see
            :data:`llamaswap.features.ENDPOINT_SINCE`.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        body: str = "",
        url: str = "",
        endpoint: str | None = None,
        since: str | None = None,
    ) -> None:
        super().__init__(message, status_code=status_code, body=body, url=url)
        self.endpoint = endpoint
        self.since = since


class ModelLoadError(APIError):
    """llama-swap could not start the model (its 500 ``unspecific error: ...``).

    Attributes:
        model: the model id that failed to load, when known.
        reason: llama-swap's reason, e.g. ``upstream command exited prematurely``.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int = 500,
        body: str = "",
        url: str = "",
        model: str | None = None,
        reason: str = "",
    ) -> None:
        super().__init__(message, status_code=status_code, body=body, url=url)
        self.model = model
        self.reason = reason


class UpstreamError(APIError):
    """The model server behind llama-swap died or answered with a server error."""


class RateLimitError(APIError):
    """429: more concurrent requests than the model's ``concurrencyLimit``.

    Attributes:
        retry_after: seconds the server asked to wait (``Retry-After``), if given.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int = 429,
        body: str = "",
        url: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, status_code=status_code, body=body, url=url)
        self.retry_after = retry_after


class InputTooLongError(LlamaSwapError, ValueError):
    """An input is longer than the model's context and could not be fitted to it.

    Embedding classes split over-long inputs by the model's own tokenizer and pool the
    pieces; this is raised where they cannot (splitting turned off, a server without
    ``/tokenize``). The message names the model's limit and the settings to change.

    Attributes:
        model: the model id.
        tokens: the input's length in the model's tokens, when known.
        limit: the model's limit in tokens, when known.
    """

    def __init__(
        self, message: str, *, model: str, tokens: int | None = None, limit: int | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.model = model
        self.tokens = tokens
        self.limit = limit


class LlamaSwapConnectionError(LlamaSwapError, ConnectionError):
    """llama-swap could not be reached (refused, DNS, reset)."""


class LlamaSwapTimeoutError(LlamaSwapError, TimeoutError):
    """A timeout the caller set ran out before llama-swap answered."""


class PoolTimeoutError(LlamaSwapTimeoutError):
    """No connection of the provider's pool came free in time; nothing was sent."""


class ResponseDecodeError(LlamaSwapError):
    """llama-swap answered 2xx but the body is not what its API promises.

    Attributes:
        url: the request URL.
        body: the start of the offending body.
    """

    def __init__(self, message: str, *, url: str = "", body: str = "") -> None:
        super().__init__(message)
        self.url = url
        self.body = body


class IncompleteResponseError(LlamaSwapError):
    """A streamed answer ended before it was complete (no finish reason, no ``[DONE]``).

    llama-swap closes a stream cleanly when the model server dies mid-answer, so the
    truncation is only visible in the stream's content; this error makes it explicit.
    """
