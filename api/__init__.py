"""The ledger as an HTTP service (FastAPI). Build it with ``create_app(database_url)``."""

from api.app import create_app

__all__ = ["create_app"]
