"""Retention, sans-IO: how long each event class is kept, from the settings."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from server.config import Settings
from shared.audit.event import EventClass


@dataclass(frozen=True)
class RetentionPolicy:
    periods: Mapping[str, dt.timedelta]

    @classmethod
    def from_settings(cls, settings: Settings) -> RetentionPolicy:
        periods = {kind.value: dt.timedelta(days=settings.audit_retention_days) for kind in EventClass}
        for item in settings.audit_retention_by_class:
            name, _, days = item.partition("=")
            periods[name] = dt.timedelta(days=int(days))
        return cls(periods)

    def cutoffs(self, now: dt.datetime) -> dict[str, dt.datetime]:
        """Per class, the receipt time before which an entry's event is past retention."""
        return {name: now - period for name, period in self.periods.items()}
