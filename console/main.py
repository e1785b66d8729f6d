"""``kluis-console``: parse the options, settle the profile, run the shell under qasync."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from contextlib import ExitStack

import qasync
from PySide6.QtWidgets import QApplication

from console.app import run_console
from console.errors import StartupError
from console.options import parse_options
from console.paths import DISPLAY_NAME, set_application_names
from console.startup import prepare
from console.ui.dialogs import show_startup_error

EXIT_STARTUP = 2


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_options(argv)
    set_application_names()
    if QApplication.instance() is None:
        QApplication([sys.argv[0]])
    QApplication.setApplicationDisplayName(DISPLAY_NAME)
    # The console decides when to quit (after closing its connections), not Qt.
    QApplication.setQuitOnLastWindowClosed(False)
    try:
        with ExitStack() as stack:
            startup = prepare(options, stack)
            return int(qasync.run(run_console(startup)))
    except StartupError as exc:
        print(f"kluis-console: {exc}", file=sys.stderr)
        qasync.run(show_startup_error(str(exc)))
        return EXIT_STARTUP


if __name__ == "__main__":
    sys.exit(main())
