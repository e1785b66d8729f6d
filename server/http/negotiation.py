"""Content negotiation: does the client accept what a route produces, and did it send
a body type the route reads."""

from __future__ import annotations


def _media_ranges(accept: str) -> list[tuple[str, str, float]]:
    ranges = []
    for item in accept.split(","):
        parts = [part.strip() for part in item.split(";")]
        media = parts[0].lower()
        if not media:
            continue
        kind, _, subtype = media.partition("/")
        quality = 1.0
        for param in parts[1:]:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value.strip())
                except ValueError:
                    quality = 0.0
        ranges.append((kind, subtype or "*", quality))
    return ranges


def accepts(accept: str | None, media_type: str) -> bool:
    """Whether an ``Accept`` header admits ``media_type``; no header admits anything.

    The most specific matching range decides, so ``*/*, text/html;q=0`` still refuses HTML.
    """
    if accept is None or not accept.strip():
        return True
    kind, _, subtype = media_type.split(";")[0].strip().lower().partition("/")
    best: tuple[int, float] | None = None
    for range_kind, range_subtype, quality in _media_ranges(accept):
        if range_kind == kind and range_subtype == subtype:
            specificity = 2
        elif range_kind == kind and range_subtype == "*":
            specificity = 1
        elif range_kind == "*" and range_subtype == "*":
            specificity = 0
        else:
            continue
        if best is None or specificity > best[0]:
            best = (specificity, quality)
    return best is not None and best[1] > 0


def is_json(content_type: str | None) -> bool:
    """``application/json``, optionally with ``charset=utf-8``."""
    if content_type is None:
        return False
    media, *params = (part.strip().lower() for part in content_type.split(";"))
    if media != "application/json":
        return False
    for param in params:
        name, _, value = param.partition("=")
        if name.strip() == "charset" and value.strip().strip('"') not in {"utf-8", "utf8"}:
            return False
    return True
