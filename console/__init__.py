"""The Kluis desktop console (PySide6 + qasync), local-first over an encrypted store."""
