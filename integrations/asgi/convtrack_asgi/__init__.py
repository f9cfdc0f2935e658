"""convtrack-asgi: run every request of an ASGI app inside its convtrack conversation.

Example:
    >>> from convtrack_asgi import ConversationMiddleware
    >>> app.add_middleware(ConversationMiddleware)          # Starlette, FastAPI
    >>> application = ConversationMiddleware(application)   # any ASGI app
"""

from __future__ import annotations

from ._middleware import ConversationMiddleware

__version__ = "0.1.0"

__all__ = ["ConversationMiddleware"]
