"""One console: its models, background work, server client and shell window, built and
torn down together, and the coroutine that runs it until the window closes."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from console.auth.local import LocalVaults
from console.auth.sessions import Sessions
from console.auth.signin import SignInService
from console.context import ShellContext
from console.crash import CrashReporter
from console.faults import PreviousCrash
from console.monitor import HEARTBEAT_SECONDS, REFRESH_SECONDS, ServerMonitor
from console.net.client import ServerClient
from console.net.trust import TrustAnchor
from console.operations import Operations
from console.profile import ProfileData
from console.profile_store import ProfileStore
from console.state import ConnectionState, Outbox
from console.sync.controller import SyncController
from console.ui.crash_dialog import CrashPresenter
from console.ui.dialogs import show_previous_crash
from console.ui.server_page import ServerPage
from console.ui.shell import MainWindow
from console.ui.signin_flow import SignInFlow
from console.ui.workspace_admin import ADMIN_WORKSPACES
from console.ui.workspace_audit import AUDIT_WORKSPACES
from console.ui.workspace_customers import ROLE_WORKSPACES
from console.ui.workspaces import Workspace
from console.vault.keyring_store import KeyringStore
from shared.crypto import KdfParams

logger = logging.getLogger("kluis.console")

SHELL_WORKSPACES = (
    Workspace(key="server", title="Server", build=ServerPage),
    *ROLE_WORKSPACES,
    *ADMIN_WORKSPACES,
    *AUDIT_WORKSPACES,
)
SIGN_OUT_AT_EXIT_SECONDS = 8.0


class Console:
    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        servers: Sequence[str],
        trust: TrustAnchor,
        *,
        unexpected: Callable[[BaseException], None],
        profile: tuple[Path, ProfileData] | None = None,
        heartbeat: float = HEARTBEAT_SECONDS,
        refresh: float = REFRESH_SECONDS,
        keyring: KeyringStore | None = None,
        vault_kdf: KdfParams | None = None,
    ) -> None:
        self.operations = Operations(loop, unexpected)
        self.profile = ProfileStore(profile[0], profile[1], self.operations) if profile else None
        preferred = profile[1].last_server if profile else None
        self.client = ServerClient(
            servers, trust, preferred=preferred, on_server_changed=self._server_changed
        )
        self.connection = ConnectionState(self.operations.notify, self.client.current, trust.fingerprint)
        self.outbox = Outbox(self.operations.notify)
        self.monitor = ServerMonitor(
            self.operations, self.client, self.connection, heartbeat=heartbeat, refresh=refresh
        )
        self.sessions = Sessions()
        self.context = ShellContext(
            self.operations, self.client, self.connection, self.outbox, self.monitor, self.sessions
        )
        self.sync = SyncController.of(self.context)  # runs sync for whoever signs in
        self.window = MainWindow(self.context, SHELL_WORKSPACES)
        # Vaults live in the profile; a console without one (tests of the shell) has no sign-in.
        self.signin: SignInFlow | None = None
        if profile is not None:
            vaults = LocalVaults(profile[0], keyring=keyring, kdf=vault_kdf)
            service = SignInService(vaults, self.client, self.operations)
            self.signin = SignInFlow(self.window, self.sessions, service, self.operations)
        self.closed = asyncio.Event()
        self.window.closed.connect(self.closed.set)

    def start(self) -> None:
        self.window.show()
        self.monitor.start()
        if self.signin is not None:
            self.signin.start()

    async def aclose(self) -> None:
        """Sign out, stop checking, finish or cancel background work, close connections and
        the window."""
        self.monitor.stop()
        self.window.closed.disconnect(self.closed.set)
        self.window.close()
        await self._end_session()
        await self.operations.aclose()
        await self.client.aclose()
        self.window.deleteLater()
        self.monitor.deleteLater()
        self.operations.deleteLater()

    async def _end_session(self) -> None:
        """Quitting signs out: the server session ends and the vault is closed."""
        session = self.sessions.current
        if session is None or session.closed:
            return
        try:
            await asyncio.wait_for(session.sign_out(), SIGN_OUT_AT_EXIT_SECONDS)
        except TimeoutError:
            logger.warning("sign-out at exit timed out")
        if not session.vault.closed:
            await self.operations.in_thread(session.vault.close)

    def _server_changed(self, server: str) -> None:
        if self.profile is not None:
            self.profile.remember_server(server)


@dataclass(frozen=True)
class Startup:
    """Everything :func:`console.startup.prepare` settled before the event loop runs."""

    profile_dir: Path
    profile: ProfileData
    servers: tuple[str, ...]
    trust: TrustAnchor
    crash: CrashReporter
    log_path: Path
    previous_crash: PreviousCrash | None


async def run_console(startup: Startup) -> int:
    """Run the console until its window closes or SIGINT/SIGTERM asks it to."""
    loop = asyncio.get_running_loop()
    startup.crash.install_loop(loop)
    console = Console(
        loop,
        startup.servers,
        startup.trust,
        unexpected=startup.crash.report,
        profile=(startup.profile_dir, startup.profile),
    )
    presenter = CrashPresenter(startup.log_path, console.window)
    startup.crash.reported.connect(presenter.present)
    stop_signals = (signal.SIGINT, signal.SIGTERM)
    for signum in stop_signals:
        loop.add_signal_handler(signum, console.window.close)
    try:
        console.start()
        if startup.previous_crash is not None:
            show_previous_crash(console.window, startup.previous_crash)
        await console.closed.wait()
    finally:
        for signum in stop_signals:
            loop.remove_signal_handler(signum)
        startup.crash.reported.disconnect(presenter.present)
        await console.aclose()
        logger.info("console stopped")
    return 0
