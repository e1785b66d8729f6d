"""The Kluis sync server: HTTPS on asyncio, ssl and h11, storage through SQLAlchemy."""

__version__ = "0.1.0"
