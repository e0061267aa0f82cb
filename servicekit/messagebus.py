"""A small message bus (cosmicpython style): commands go to exactly one handler, whose
dependencies the bootstrap injected by name."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

Handler = Callable[..., Awaitable[Any]]


def inject(handler: Handler, dependencies: Mapping[str, Any]) -> Callable[[Any], Awaitable[Any]]:
    """Bind the keyword dependencies ``handler`` asks for (by parameter name)."""
    params = inspect.signature(handler).parameters
    wanted = {name: dep for name, dep in dependencies.items() if name in params}

    async def bound(message: Any) -> Any:
        resolved = {k: (v() if k == "uow" else v) for k, v in wanted.items()}
        return await handler(message, **resolved)

    return bound


class MessageBus:
    """Routes each command to its handler; a fresh unit of work per command."""

    def __init__(
        self,
        *,
        command_handlers: Mapping[type, Callable[..., Awaitable[Any]]],
        dependencies: Mapping[str, Any],
    ) -> None:
        self._handlers = {
            command_type: inject(handler, dependencies)
            for command_type, handler in command_handlers.items()
        }

    async def handle(self, command: Any) -> Any:
        """Run the handler of ``command`` and return its result; its errors propagate."""
        try:
            handler = self._handlers[type(command)]
        except KeyError:
            raise LookupError(f"no handler for {type(command).__name__}") from None
        return await handler(command)
