"""The one exception base for failures a person acts on, and the configuration's error.

Every error isodrop raises for a reason a person reads (a config key, an ISO that cannot be extracted,
a sidecar that is refused, a menu line a loader would misread) derives from `IsodropError` and carries
that sentence as `reason`. The command line catches it once, at its edge (isodrop.cli.main); the service
records it for the one ISO it concerns. Bugs stay other exceptions, with their tracebacks.
"""

from __future__ import annotations


class IsodropError(Exception):
    """A failure with `reason`: the one sentence a person reads about it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ConfigError(IsodropError):
    """A config file or value that cannot be used; the reason names the file and the key."""

    @classmethod
    def for_key(cls, source: str, key: str, problem: str) -> ConfigError:
        """The error about `key` of the config read from `source` (a path, or "built-in defaults")."""
        return cls(f"{source}: key {key!r}: {problem}")
