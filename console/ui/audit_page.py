"""The auditor's workspace: a copy of the signed audit log in the vault, downloaded while
online and then browsed, filtered, followed trail by trail, verified and exported with no
network at all.

Downloading checks that the server's new checkpoint extends the one the copy holds before
anything else is fetched, and verification runs right after.  Verification (on a worker
thread, signatures on every core) shows its progress and can be stopped; what it finds is
listed by entry and marked in the list."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from pathlib import Path
from typing import Any

from PySide6.QtCore import QItemSelection, QModelIndex, Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from console.audit.copy import AuditCopy, CopyState, EntryDetail, EntryFilter, StoredFinding
from console.audit.download import Downloader, DownloadOutcome
from console.audit.export import Exported, ExportRequest, export_bundle
from console.audit.verify import Verification, verify_copy
from console.changes import Changes, Topic
from console.context import ShellContext
from console.errors import ConsoleError
from console.net.errors import ServerError
from console.state import LinkStatus
from console.sync.controller import SyncController
from console.sync.store import LocalStore
from console.ui.audit_detail import AuditEntryDetail
from console.ui.audit_export_dialog import ExportDialog
from console.ui.audit_filters import CHOICE_COLUMNS, AuditFilterBar
from console.ui.audit_model import AuditEntryModel
from console.ui.dialogs import dialog_result
from console.ui.style import ERROR_BANNER, WARNING_BANNER
from console.ui.tables import list_table

OK_BANNER = "QLabel { background: #dafbe1; color: #116329; border: 1px solid #4ac26b; padding: 8px; }"
EMPTY_COPY = (
    "There is no copy of the audit log on this computer yet. Download it while online; after that "
    "it can be browsed, verified and exported offline."
)


def _time(moment: dt.datetime | None) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC") if moment else "never"


def copy_summary(state: CopyState) -> str:
    if state.empty:
        return EMPTY_COPY
    pruned = f", after {state.min_index:,} pruned past retention" if state.min_index else ""
    return (
        f"{state.held:,} entries{pruned}, up to the checkpoint of {state.size:,} signed by "
        f"{state.origin}. Downloaded {_time(state.downloaded_at)}."
    )


def verification_summary(state: CopyState) -> tuple[str, str]:
    """The verification line and its banner style."""
    if state.empty:
        return "", ""
    if state.verified_at is None or not state.verified_current:
        return "Not verified since the last download.", WARNING_BANNER
    if state.verified_ok:
        return (
            f"Verified {_time(state.verified_at)}: {state.verified_summary}. The signed checkpoint of "
            f"{state.size:,} entries matches the root recomputed from every entry and extends the one "
            "this computer verified before.",
            OK_BANNER,
        )
    return (
        f"Verification FAILED {_time(state.verified_at)}: {state.verified_summary}. See Findings.",
        ERROR_BANNER,
    )


class AuditorPage(QWidget):
    verify_progress = Signal(int, int)  # emitted from the worker thread, shown on the GUI thread

    def __init__(self, context: ShellContext) -> None:
        super().__init__()
        self.setObjectName("audit_page")
        self._context = context
        self._operations = context.operations
        self.sync = SyncController.of(context)
        self.state: CopyState | None = None
        self._store: LocalStore | None = None
        self._download_task: asyncio.Task[Any] | None = None
        self._cancel_verify: threading.Event | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._working = False
        self.dialog: ExportDialog | None = None

        self.heading = QLabel("Audit log")
        font = self.heading.font()
        font.setPointSize(font.pointSize() + 2)
        font.setBold(True)
        self.heading.setFont(font)
        self.summary = QLabel(EMPTY_COPY)
        self.summary.setObjectName("audit_summary")
        self.summary.setWordWrap(True)
        self.verdict = QLabel()
        self.verdict.setObjectName("audit_verdict")
        self.verdict.setWordWrap(True)
        self.verdict.hide()
        self.message = QLabel()
        self.message.setObjectName("audit_message")
        self.message.setWordWrap(True)
        self.message.hide()
        self.download_button = QPushButton("Download new entries")
        self.download_button.setObjectName("audit_download")
        self.download_button.setToolTip("Needs the server; everything else works offline.")
        self.verify_button = QPushButton("Verify")
        self.verify_button.setObjectName("audit_verify")
        self.export_button = QPushButton("Export evidence…")
        self.export_button.setObjectName("audit_export")
        self.forget_button = QPushButton("Forget this copy…")
        self.forget_button.setObjectName("audit_forget")
        self.progress = QProgressBar()
        self.progress.setObjectName("audit_progress")
        self.progress_label = QLabel()
        self.progress_label.setObjectName("audit_progress_label")
        self.cancel_button = QPushButton("Stop")
        self.cancel_button.setObjectName("audit_cancel")
        self.progress_row = QWidget()
        progress_layout = QHBoxLayout(self.progress_row)
        progress_layout.setContentsMargins(0, 0, 0, 0)
        progress_layout.addWidget(self.progress_label)
        progress_layout.addWidget(self.progress, 1)
        progress_layout.addWidget(self.cancel_button)
        self.progress_row.hide()

        self.filters = AuditFilterBar()
        self.model = AuditEntryModel(self.sync, parent=self)
        self.table = list_table(
            self.model, "audit_table", (56, 136, 72, 84, 110, 130, 130, 64), row_height=22
        )
        self.detail = AuditEntryDetail()
        self.shown = QLabel()
        self.shown.setObjectName("audit_shown")
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.table)
        splitter.addWidget(self.detail)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setSizes([760, 460])
        entries = QWidget()
        entries_layout = QVBoxLayout(entries)
        entries_layout.addWidget(self.filters)
        entries_layout.addWidget(self.shown)
        entries_layout.addWidget(splitter, 1)
        self.findings = QListWidget()
        self.findings.setObjectName("audit_findings")
        self.findings.setWordWrap(True)
        findings_page = QWidget()
        findings_layout = QVBoxLayout(findings_page)
        findings_layout.addWidget(
            QLabel("What the last verification found. Open an entry's finding to see the entry.")
        )
        findings_layout.addWidget(self.findings, 1)
        self.tabs = QTabWidget()
        self.tabs.setObjectName("audit_tabs")
        self.tabs.addTab(entries, "Entries")
        self.tabs.addTab(findings_page, "Findings")

        buttons = QHBoxLayout()
        buttons.addWidget(self.heading)
        buttons.addStretch(1)
        for button in (self.download_button, self.verify_button, self.export_button, self.forget_button):
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addLayout(buttons)
        layout.addWidget(self.summary)
        layout.addWidget(self.verdict)
        layout.addWidget(self.message)
        layout.addWidget(self.progress_row)
        layout.addWidget(self.tabs, 1)

        self.download_button.clicked.connect(self.download)
        self.verify_button.clicked.connect(self.verify)
        self.export_button.clicked.connect(self.export)
        self.forget_button.clicked.connect(self.forget)
        self.cancel_button.clicked.connect(self.cancel)
        self.filters.changed.connect(self._filter_changed)
        self.detail.trail_of_object.connect(
            lambda kind, ident: self.filters.show_filter(EntryFilter(object_type=kind, object_id=ident))
        )
        self.detail.trail_of_actor.connect(lambda actor: self.filters.show_filter(EntryFilter(actor=actor)))
        self.table.selectionModel().selectionChanged.connect(self._selected)
        self.findings.itemActivated.connect(self._finding_activated)
        self.model.total_changed.connect(self._show_total)
        self.verify_progress.connect(self._verifying)
        context.operations.changed.connect(self._on_changed)
        context.sessions.changed.connect(self._session_changed)
        self._session_changed(force=True)

    # --- state --------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self._working

    @property
    def copy(self) -> AuditCopy | None:
        store = self.sync.store
        return AuditCopy(store) if store is not None else None

    def _online(self) -> bool:
        """Signed in to the server, and the server answering."""
        session = self.sync.session
        reachable = self._context.connection.status is not LinkStatus.OFFLINE
        return session is not None and session.online and reachable

    def _session_changed(self, force: bool = False) -> None:
        store = self.sync.store
        if store is self._store and not force:
            self._enable()
            return
        self._store = store
        self.state = None
        self._enable()
        self.detail.show_entry(None, None)
        self.reload()

    def _on_changed(self, changes: Changes) -> None:
        if changes.touches(Topic.AUDIT_COPY):
            self.reload()
        elif changes.touches(Topic.CONNECTION):
            self._enable()

    def reload(self) -> None:
        """Read the copy's state, the filter's choices and the findings again."""
        if self.sync.store is None:
            self._show_state(None)
            return

        def read(store: LocalStore) -> tuple[CopyState, dict[str, list[str]], list[StoredFinding]]:
            copy = AuditCopy(store)
            choices = {name: copy.distinct(name) for name in CHOICE_COLUMNS}
            return copy.state(), choices, copy.findings()

        self.sync.run_blocking(read, on_success=self._loaded, on_failure=self._show_error)

    def _loaded(self, loaded: tuple[CopyState, dict[str, list[str]], list[StoredFinding]]) -> None:
        state, choices, findings = loaded
        self._show_state(state)
        self.filters.set_choices(choices)
        self.findings.clear()
        for finding in findings:
            where = f"Entry {finding.index:,}" if finding.index is not None else "The log"
            item = QListWidgetItem(f"{where}: {finding.message} [{finding.code}]")
            item.setData(Qt.ItemDataRole.UserRole, finding.index)
            self.findings.addItem(item)
        self.tabs.setTabText(1, f"Findings ({len(findings)})" if findings else "Findings")
        self.model.set_filter(self.filters.current(), state.verified_size if state.verified_current else None)

    def _show_state(self, state: CopyState | None) -> None:
        self.state = state
        self.summary.setText(copy_summary(state) if state is not None else "Sign in to see the audit log.")
        text, style = verification_summary(state) if state is not None else ("", "")
        self.verdict.setText(text)
        self.verdict.setStyleSheet(style)
        self.verdict.setVisible(bool(text))
        self._enable()

    def _enable(self) -> None:
        held = self.state is not None and not self.state.empty
        idle = not self.busy
        self.download_button.setEnabled(idle and self._online() and self.state is not None)
        self.download_button.setToolTip(
            "Fetch what the server logged since the last download."
            if self._online()
            else "Needs the server: this console is offline. The copy can still be browsed, verified "
            "and exported."
        )
        self.verify_button.setEnabled(idle and held)
        self.export_button.setEnabled(idle and held)
        self.forget_button.setEnabled(idle and held)

    def _show_total(self, total: int | None) -> None:
        if total is None:
            self.shown.setText("")
        elif self.model.filter.is_empty:
            self.shown.setText(f"{total:,} entries, newest first")
        else:
            self.shown.setText(f"{total:,} entries match, newest first")

    def _say(self, text: str | None, style: str = WARNING_BANNER) -> None:
        self.message.setText(text or "")
        self.message.setStyleSheet(style)
        self.message.setVisible(bool(text))

    def _show_error(self, error: Exception) -> None:
        if not isinstance(error, ConsoleError):
            raise error  # a bug: the crash handler logs its type and stack, never its message
        self._say(str(error), ERROR_BANNER)

    # --- progress -----------------------------------------------------------------------

    def _busy(self, label: str, total: int = 0) -> None:
        self.progress_label.setText(label)
        self.progress.setRange(0, total)
        self.progress.setValue(0)
        self.progress_row.show()
        self._working = True
        self._enable()

    def _idle(self) -> None:
        self._working = False
        self.progress_row.hide()
        self._download_task = None
        self._cancel_verify = None
        self._enable()

    def _step(self, done: int, total: int) -> None:
        if total <= 0:
            self.progress.setRange(0, 0)
            return
        self.progress.setRange(0, total)
        self.progress.setValue(done)
        self.progress.setFormat(f"%v of {total:,}")

    def cancel(self) -> None:
        if self._download_task is not None:
            self._download_task.cancel()
            self._idle()
            self._say("The download was stopped; what arrived is kept and the next one continues from there.")
        if self._cancel_verify is not None:
            self._cancel_verify.set()

    # --- download -----------------------------------------------------------------------

    def download(self) -> None:
        session, copy = self.sync.session, self.copy
        if session is None or copy is None or self.busy:
            return
        if not session.online:
            self._say("Downloading needs the server, and this console is offline.")
            return

        async def request(method: str, path: str, accept: str) -> Any:
            return await session.request(method, path, accept=accept)

        downloader = Downloader(copy, request, self._operations.in_thread, progress=self._step)
        self._say(None)
        self._busy("Downloading entries")
        self._download_task = self._operations.run(
            downloader.run,
            on_success=self._downloaded,
            on_failure=self._download_failed,
            changes=Changes.of(Topic.AUDIT_COPY),
        )

    def _downloaded(self, outcome: DownloadOutcome) -> None:
        self._idle()
        erased = f", {outcome.erased:,} erased on the server" if outcome.erased else ""
        self._say(
            f"{outcome.new_entries:,} new entries downloaded{erased}. Verifying the copy now.", OK_BANNER
        )
        self.verify()

    def _download_failed(self, error: Exception) -> None:
        self._idle()
        if isinstance(error, ServerError):
            self._say(
                f"{error} The copy on this computer is unchanged and can still be browsed, verified "
                "and exported.",
                ERROR_BANNER,
            )
        else:
            self._show_error(error)
        self.reload()

    # --- verification -------------------------------------------------------------------

    def verify(self) -> None:
        copy = self.copy
        if copy is None or self.busy:
            return
        cancelled = threading.Event()
        self._cancel_verify = cancelled
        self._busy("Verifying entries and signatures")
        self._operations.run_blocking(
            lambda: verify_copy(copy, progress=self.verify_progress.emit, cancelled=cancelled),
            on_success=self._verified,
            on_failure=self._verify_failed,
            changes=Changes.of(Topic.AUDIT_COPY),
        )

    def _verifying(self, done: int, total: int) -> None:
        if self._cancel_verify is not None:
            self._step(done, total)

    def _verified(self, verification: Verification) -> None:
        self._idle()
        self._say(None)  # the verdict above says how it went
        if not verification.report.ok:
            self.tabs.setCurrentIndex(1)

    def _verify_failed(self, error: Exception) -> None:
        self._idle()
        self._show_error(error)

    # --- browsing -----------------------------------------------------------------------

    def _filter_changed(self, where: EntryFilter) -> None:
        state = self.state
        verified = state.verified_size if state is not None and state.verified_current else None
        self.model.set_filter(where, verified)
        self.detail.show_entry(None, state)

    def _selected(self, selected: QItemSelection, _: QItemSelection) -> None:
        indexes = selected.indexes()
        if indexes:
            self.open_entry(self.model.row(indexes[0].row()).index)

    def open_entry(self, index: int) -> None:
        def shown(detail: EntryDetail | None) -> None:
            self.detail.show_entry(detail, self.state)

        self.sync.run_blocking(lambda store: AuditCopy(store).entry(index), on_success=shown)

    def _finding_activated(self, item: QListWidgetItem) -> None:
        index = item.data(Qt.ItemDataRole.UserRole)
        if index is None:
            return
        self.tabs.setCurrentIndex(0)
        row = self.model.row_of(int(index))
        if row is not None:
            self.table.selectRow(row)
            self.table.scrollTo(self.model.index(row, 0))
        else:
            self.table.clearSelection()
            self.open_entry(int(index))

    def select_row(self, row: int) -> None:
        self.table.setCurrentIndex(self.model.index(row, 0, QModelIndex()))

    # --- export -------------------------------------------------------------------------

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def export(self) -> ExportDialog | None:
        state, copy = self.state, self.copy
        if state is None or state.empty or copy is None:
            return None
        at = dt.datetime.now(dt.UTC)
        default = Path.home() / f"kluis-audit-{at.strftime('%Y%m%d-%H%M%S')}.json"

        def submit(dialog: ExportDialog, request: ExportRequest, purpose: str, path: Path) -> None:
            self._operations.run_blocking(
                lambda: export_bundle(copy, request, path, dt.datetime.now(dt.UTC)),
                on_success=lambda exported: self._exported(dialog, request, purpose, exported),
                on_failure=lambda error: self._export_failed(dialog, error),
            )

        dialog = ExportDialog(state, self.model.filter, submit, default_path=default, parent=self)
        self.dialog = dialog
        self._spawn(self._run_dialog(dialog))
        return dialog

    async def _run_dialog(self, dialog: QWidget) -> None:
        try:
            await dialog_result(dialog)  # type: ignore[arg-type]
        finally:
            dialog.deleteLater()

    def _exported(
        self, dialog: ExportDialog, request: ExportRequest, purpose: str, exported: Exported
    ) -> None:
        object_type, object_id = request.audit_target
        self.sync.record_access("export", object_id, purpose, object_type=object_type)
        dialog.accept()
        self._say(
            f"Exported {exported.entries:,} entries ({exported.scope}, checkpoint of "
            f"{exported.checkpoint_size:,}) to {exported.path}. Check it anywhere with: "
            f"kluis-verify {exported.path.name} --log-key <the log's key>",
            OK_BANNER,
        )

    @staticmethod
    def _export_failed(dialog: ExportDialog, error: Exception) -> None:
        if not isinstance(error, ConsoleError):
            raise error
        dialog.show_error(str(error))

    # --- forgetting ---------------------------------------------------------------------

    def forget(self) -> QMessageBox | None:
        copy = self.copy
        if copy is None or self.busy:
            return None
        box = QMessageBox(
            QMessageBox.Icon.Warning,
            "Forget this copy of the audit log",
            "The copy and the checkpoint this computer verified are deleted from the vault. The next "
            "download starts afresh and trusts the server's log key again, so later checkpoints are no "
            "longer checked against the one you verified. Do this only when the log's key was changed "
            "for a reason you know.",
            QMessageBox.StandardButton.Cancel,
            self,
        )
        box.setObjectName("audit_forget_confirm")
        forget = box.addButton("Forget the copy", QMessageBox.ButtonRole.DestructiveRole)

        async def ask() -> None:
            await dialog_result(box)
            if box.clickedButton() is forget:
                self._operations.run_blocking(
                    copy.forget, on_failure=self._show_error, changes=Changes.of(Topic.AUDIT_COPY)
                )
            box.deleteLater()

        self._spawn(ask())
        return box


def auditor_page(context: ShellContext) -> AuditorPage:
    return AuditorPage(context)
