"""The error hierarchy. Each error says what went wrong and how to fix it.

Edges translate these once: the CLI prints the message and exits non-zero, the UI shows it as a chat
message, the REST API maps it to an HTTP status.
"""

from __future__ import annotations


class NewsQAError(Exception):
    """Base class for every error this package raises on purpose."""

    exit_code = 1


class ConfigError(NewsQAError):
    """A setting has a value that cannot work."""

    exit_code = 2


class ModelError(NewsQAError):
    """A model is missing, corrupt or cannot be loaded."""

    exit_code = 3


class IndexMissingError(NewsQAError):
    """The index folder does not exist or holds no articles yet."""

    exit_code = 4


class InputError(NewsQAError):
    """A question or a file the user gave cannot be used (the message names which and why)."""

    exit_code = 2


class LoadError(NewsQAError):
    """One file or record could not be turned into an article.

    Ingestion collects these per file and goes on with the rest of the batch.
    """

    def __init__(self, path: str, reason: str, line: int | None = None) -> None:
        self.path = path
        self.reason = reason
        self.line = line
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {reason}")


class ServerError(NewsQAError):
    """A model server (llm_base_url or embedding_base_url) failed the request; the message names the server, what
    went wrong and the fix. `status` is what the REST API answers: the server behind newsqa failed, not the
    caller's request."""

    exit_code = 5
    status = 502


class ServerUnreachable(ServerError):
    """No answer at the server's address (nothing listening, wrong host or port, DNS)."""

    status = 503


class ServerAuthError(ServerError):
    """The server refused the key (401/403)."""


class ServerModelMissing(ServerError):
    """The server does not serve the model named in the settings (404)."""


class ServerTimeout(ServerError):
    """The server took longer than `server_timeout` seconds, after the retries."""

    status = 504


class ServerReplyError(ServerError):
    """The server answered with an error (5xx, or a 4xx other than the above) or with something that is not a
    valid OpenAI-compatible reply (malformed JSON, a stream cut before its end)."""


class ServerContextError(ServerError):
    """The prompt does not fit the server's context window, or the server cut the reply at its window's end."""
