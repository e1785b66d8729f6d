"""One entry of the auditor's copy: the event's fields, who signed it and whether the last
verification found its signature good and the entry in the signed log; and the way to follow
its object's or its actor's trail."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFormLayout, QGroupBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from console.audit.copy import CopyState, EntryDetail
from console.ui.style import ERROR_BANNER, fixed_font
from shared.audit.codec import b64url_encode

EVENT_FIELDS = (
    ("occurred_at", "Time on the signer's clock"),
    ("signer", "Signed by"),
    ("actor", "Actor (user id)"),
    ("device", "Device"),
    ("role", "Role"),
    ("action", "Action"),
    ("outcome", "Outcome"),
    ("reason", "Reason"),
    ("object_type", "Object type"),
    ("object_id", "Object id"),
    ("purpose", "Purpose"),
)


def signature_status(detail: EntryDetail, state: CopyState | None) -> str:
    codes = {code for code, _ in detail.findings}
    if detail.erased:
        return (
            f"Erased ({detail.erased}): the event, its salt and signature are gone; the entry still verifies."
        )
    if state is None or state.verified_size is None or detail.index >= state.verified_size:
        return "Not checked yet: verify the copy."
    if "bad_signature" in codes:
        return "The signature does NOT verify."
    if codes:
        return "Not judged: the entry has problems (below)."
    return "Verified against the signer's enrolled key."


def inclusion_status(detail: EntryDetail, state: CopyState | None) -> str:
    if state is None or state.verified_size is None or detail.index >= state.verified_size:
        return "Not checked yet: verify the copy."
    if detail.findings:
        return "Problems found (below)."
    if not state.verified_ok:
        return "The copy as a whole failed its last verification (see Findings)."
    return (
        f"In the signed checkpoint of {state.verified_size:,} entries: the root recomputed from "
        "every entry equals the checkpoint's."
    )


def _lines(value: str, width: int) -> str:
    """Long hex or base64 in lines of ``width``, so that the pane need not be as wide as it."""
    return "\n".join(value[n : n + width] for n in range(0, len(value), width))


class AuditEntryDetail(QWidget):
    trail_of_object = Signal(str, str)  # object type, object id
    trail_of_actor = Signal(str)  # user id

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("audit_entry_detail")
        self.detail: EntryDetail | None = None
        self.title = QLabel("Select an entry.")
        self.title.setObjectName("audit_entry_title")
        font = self.title.font()
        font.setPointSize(font.pointSize() + 2)
        font.setBold(True)
        self.title.setFont(font)
        self.values: dict[str, QLabel] = {}
        event_box = QGroupBox("Event")
        form = QFormLayout(event_box)
        for name, label in EVENT_FIELDS:
            self.values[name] = self._value(f"audit_{name}")
            form.addRow(label + ":", self.values[name])
        proof_box = QGroupBox("Proof")
        proof = QFormLayout(proof_box)
        for name, label in (
            ("received_at", "Received by the server"),
            ("signature_status", "Signature"),
            ("inclusion_status", "In the signed log"),
            ("leaf_hash", "Leaf hash"),
            ("signature", "Signature (Ed25519)"),
        ):
            self.values[name] = self._value(f"audit_{name}")
            proof.addRow(label + ":", self.values[name])
        for name in ("leaf_hash", "signature"):
            self.values[name].setFont(fixed_font())
        self.problems = QLabel()
        self.problems.setObjectName("audit_entry_problems")
        self.problems.setStyleSheet(ERROR_BANNER)
        self.problems.setWordWrap(True)
        self.problems.hide()
        self.object_trail = QPushButton("This object's trail")
        self.object_trail.setObjectName("object_trail")
        self.actor_trail = QPushButton("This actor's trail")
        self.actor_trail.setObjectName("actor_trail")
        self.object_trail.clicked.connect(self._object_trail)
        self.actor_trail.clicked.connect(self._actor_trail)
        buttons = QHBoxLayout()
        buttons.addWidget(self.object_trail)
        buttons.addWidget(self.actor_trail)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addWidget(self.problems)
        layout.addWidget(event_box)
        layout.addWidget(proof_box)
        layout.addLayout(buttons)
        layout.addStretch(1)
        self.show_entry(None, None)

    @staticmethod
    def _value(name: str) -> QLabel:
        label = QLabel("—")
        label.setObjectName(name)
        label.setWordWrap(True)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        return label

    def show_entry(self, detail: EntryDetail | None, state: CopyState | None) -> None:
        self.detail = detail
        if detail is None:
            self.title.setText("Select an entry.")
            for label in self.values.values():
                label.setText("—")
            self.problems.hide()
            self.object_trail.setEnabled(False)
            self.actor_trail.setEnabled(False)
            return
        self.title.setText(f"Entry {detail.index:,}")
        event = detail.event or {}
        for name, _ in EVENT_FIELDS:
            value = event.get(name)
            self.values[name].setText(str(value) if value is not None else "—")
        self.values["received_at"].setText(detail.received_at.strftime("%Y-%m-%d %H:%M:%S.%f UTC"))
        self.values["signature_status"].setText(signature_status(detail, state))
        self.values["inclusion_status"].setText(inclusion_status(detail, state))
        self.values["leaf_hash"].setText(_lines(detail.leaf_hash.hex(), 32))
        self.values["signature"].setText(
            _lines(b64url_encode(detail.signature), 43) if detail.signature else "—"
        )
        if detail.findings:
            self.problems.setText("\n".join(f"{message} [{code}]" for code, message in detail.findings))
            self.problems.show()
        else:
            self.problems.hide()
        self.object_trail.setEnabled(bool(event.get("object_type") and event.get("object_id")))
        self.actor_trail.setEnabled(bool(event.get("actor")))

    def _object_trail(self) -> None:
        event = (self.detail.event if self.detail else None) or {}
        if event.get("object_type") and event.get("object_id"):
            self.trail_of_object.emit(str(event["object_type"]), str(event["object_id"]))

    def _actor_trail(self) -> None:
        event = (self.detail.event if self.detail else None) or {}
        if event.get("actor"):
            self.trail_of_actor.emit(str(event["actor"]))
