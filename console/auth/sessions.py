"""The current session, for every screen: ``context.sessions.current`` is the signed-in
:class:`~console.auth.session.Session` or None, and :attr:`Sessions.changed` fires when a
session starts or closes, goes online or offline, or its identity changes."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from console.auth.session import Session, SessionEnded


class Sessions(QObject):
    changed = Signal()
    ended = Signal(object)  # SessionEnded, from the current session

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._current: Session | None = None

    @property
    def current(self) -> Session | None:
        return self._current

    def start(self, session: Session) -> None:
        if self._current is not None and not self._current.closed:
            raise RuntimeError("a session is already open")
        self._forget()
        self._current = session
        session.changed.connect(self.changed)
        session.ended.connect(self._ended)
        self.changed.emit()

    def _ended(self, ended: SessionEnded) -> None:
        session = self._current
        if session is not None and session.closed:
            self._forget()
            self.changed.emit()
        self.ended.emit(ended)

    def _forget(self) -> None:
        if self._current is not None:
            self._current.changed.disconnect(self.changed)
            self._current.ended.disconnect(self._ended)
            self._current = None
