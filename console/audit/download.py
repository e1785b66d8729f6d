"""Bringing the auditor's copy of the log up to date from the server.

One download: the log's identity and latest signed checkpoint (opened with the log's key,
which the copy pins the first time), every enrolled device's key, the entries the copy
lacks (pages of 1000, each stored as it arrives, so an interrupted download resumes where
it stopped), the erasures since, the hashes covering entries pruned past retention (from
the log's public hash tiles), and the consistency proof from the checkpoint this console
last verified.  Only when all of it is in does one transaction move the copy to the new
checkpoint; until then the copy is what it was.

The download proves nothing by itself: :mod:`console.audit.verify` does, offline."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final, Literal, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from console.audit.copy import AuditCopy, CopyState, Download
from console.audit.errors import (
    BadCheckpoint,
    DownloadRefused,
    DownloadUnreadable,
    LogForked,
    LogKeyChanged,
    LogShrank,
    NoCheckpoint,
)
from console.logs import fields
from shared.audit.bundle import DeviceKey
from shared.audit.codec import FormatError, b64url_decode
from shared.checkpoint import Checkpoint, CheckpointError, open_checkpoint
from shared.merkle import ProofError, leaf_hash, range_node_ids, verify_consistency
from shared.note import NoteError
from shared.tiles import TileNodeReader, tiles_for_nodes

logger = logging.getLogger("kluis.console.audit")

T = TypeVar("T")
PREFIX: Final = "/api/v1/audit"
PAGE: Final = 1000

Request = Callable[[str, str, str], Awaitable[httpx.Response]]
"""``request(method, path, accept)``: the signed-in session's."""
Blocking = Callable[[Callable[[], T]], Awaitable[T]]
Progress = Callable[[int, int], None]


class _LogInfo(BaseModel):
    origin: str
    verifier_key: str
    size: int
    min_index: int
    checkpoint_size: int | None
    server_keys: list[dict[str, str]]


class _Entry(BaseModel):
    index: int
    received_at: dt.datetime
    entry: str
    event: dict[str, str | None] | None
    salt: str | None
    signature: str | None
    erased: Literal["retention", "erasure"] | None


class _Entries(BaseModel):
    size: int
    min_index: int
    next_start: int | None
    entries: list[_Entry]


class _Device(BaseModel):
    device_id: uuid.UUID
    user_id: uuid.UUID
    public_key: str
    enrolled_at: dt.datetime
    revoked_at: dt.datetime | None


class _Devices(BaseModel):
    devices: list[_Device]


class _Erasure(BaseModel):
    index: int
    reason: Literal["retention", "erasure"]


class _Erasures(BaseModel):
    min_index: int
    next_start: int | None
    erased: list[_Erasure]


class _Consistency(BaseModel):
    size1: int
    size2: int
    hashes: list[str]


@dataclass(frozen=True)
class DownloadOutcome:
    new_entries: int
    erased: int
    state: CopyState


class Downloader:
    """One download; ``blocking`` runs vault work on a worker thread."""

    def __init__(
        self,
        copy: AuditCopy,
        request: Request,
        blocking: Blocking[Any],
        *,
        progress: Progress | None = None,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        page: int = PAGE,
    ) -> None:
        self._page = page
        self._copy = copy
        self._request = request
        self._blocking = blocking
        self._progress = progress or (lambda done, total: None)
        self._clock = clock

    async def _get(self, path: str, accept: str = "application/json") -> httpx.Response:
        response = await self._request("GET", path, accept)
        if response.status_code != 200:
            code, message = _error_of(response)
            raise DownloadRefused(response.status_code, code, message)
        return response

    async def _json(self, path: str, model: type[Any], what: str) -> Any:
        response = await self._get(path)
        try:
            return model.model_validate_json(response.content)
        except ValidationError:
            raise DownloadUnreadable(what) from None

    async def _checkpoint(self, info: _LogInfo) -> tuple[bytes, Checkpoint]:
        response = await self._request("GET", f"{PREFIX}/checkpoint", "text/plain")
        if response.status_code == 404:
            raise NoCheckpoint()
        if response.status_code != 200:
            code, message = _error_of(response)
            raise DownloadRefused(response.status_code, code, message)
        try:
            return response.content, open_checkpoint(response.content, info.verifier_key, origin=info.origin)
        except (NoteError, CheckpointError) as exc:
            raise BadCheckpoint(str(exc)) from None

    async def run(self) -> DownloadOutcome:
        copy, blocking = self._copy, self._blocking
        state: CopyState = await blocking(copy.state)
        info: _LogInfo = await self._json(f"{PREFIX}/log", _LogInfo, "the log's description")
        if state.log_key is not None and (info.verifier_key, info.origin) != (state.log_key, state.origin):
            raise LogKeyChanged()
        note, checkpoint = await self._checkpoint(info)
        if checkpoint.size < state.size:
            raise LogShrank(state.size, checkpoint.size)
        joins = await self._joins(state, info, checkpoint)

        devices: _Devices = await self._json(f"{PREFIX}/devices", _Devices, "the device keys")
        min_index = max(info.min_index, state.min_index)
        prefix = state.prefix if min_index == state.min_index else await self._prefix(min_index, checkpoint)
        start: int = await blocking(lambda: copy.resume_from(min_index))
        total = max(checkpoint.size - start, 0)
        fetched = 0
        self._progress(0, total)
        while start < checkpoint.size:
            end = min(start + self._page, checkpoint.size)
            page: _Entries = await self._json(
                f"{PREFIX}/entries?start={start}&end={end}", _Entries, "entries"
            )
            rows = _entry_rows(page, start, end)
            await blocking(lambda rows=rows: copy.store_entries(rows))  # type: ignore[misc]
            fetched += len(rows)
            start = end
            self._progress(fetched, total)

        erased = 0
        after: int | None = min_index
        while after is not None:
            listed: _Erasures = await self._json(f"{PREFIX}/erasures?start={after}", _Erasures, "erasures")
            pairs = [(item.index, item.reason) for item in listed.erased if item.index < checkpoint.size]
            erased += await blocking(lambda pairs=pairs: copy.apply_erasures(pairs))  # type: ignore[misc]
            after = listed.next_start

        proof: tuple[bytes, ...] | None = None
        trusted = state.trusted_size
        if trusted is not None and 0 < trusted < checkpoint.size:
            proof = joins if trusted == state.size else await self._consistency(trusted, checkpoint.size)

        download = Download(
            origin=info.origin,
            log_key=info.verifier_key,
            checkpoint=note,
            size=checkpoint.size,
            min_index=min_index,
            prefix=prefix,
            server_keys=_server_keys(info),
            devices=[_device_key(device) for device in devices.devices],
            consistency_proof=proof,
            at=self._clock(),
        )
        await blocking(lambda: copy.commit_download(download))
        after_state: CopyState = await blocking(copy.state)
        logger.info(
            "audit log copy updated",
            extra=fields(size=checkpoint.size, new_entries=fetched, erased=erased, min_index=min_index),
        )
        return DownloadOutcome(fetched, erased, after_state)

    async def _consistency(self, size1: int, size2: int) -> tuple[bytes, ...]:
        answer: _Consistency = await self._json(
            f"{PREFIX}/proof/consistency?size1={size1}&size2={size2}", _Consistency, "the consistency proof"
        )
        return _hashes(answer.hashes, "the consistency proof")

    async def _joins(self, state: CopyState, info: _LogInfo, checkpoint: Checkpoint) -> tuple[bytes, ...]:
        """Check, before fetching anything more, that the new checkpoint extends the one the
        copy holds; returns the consistency proof that shows it (empty when nothing grew)."""
        if state.checkpoint is None or state.size == 0:
            return ()
        try:
            held = open_checkpoint(state.checkpoint, info.verifier_key, origin=info.origin)
        except (NoteError, CheckpointError) as exc:
            raise BadCheckpoint(f"the copy's own checkpoint does not open ({exc})") from None
        if held.size == checkpoint.size:
            if held.root_hash != checkpoint.root_hash:
                raise LogForked(checkpoint.size)
            return ()
        proof = await self._consistency(held.size, checkpoint.size)
        try:
            verify_consistency(held.size, checkpoint.size, held.root_hash, checkpoint.root_hash, proof)
        except ProofError:
            raise LogForked(held.size) from None
        return proof

    async def _prefix(self, min_index: int, checkpoint: Checkpoint) -> tuple[bytes, ...]:
        """The hashes of the subtrees covering the pruned entries ``[0, min_index)``, from
        the log's public hash tiles; the verification checks them against the checkpoint."""
        ids = range_node_ids(0, min_index)
        tiles = {}
        for tile in tiles_for_nodes(ids, checkpoint.size):
            tiles[tile] = (await self._get(f"{PREFIX}/{tile.path}", "application/octet-stream")).content
        try:
            return tuple(TileNodeReader(checkpoint.size, tiles).get_nodes(ids))
        except (KeyError, ValueError):
            raise DownloadUnreadable("the log's hash tiles") from None


def _error_of(response: httpx.Response) -> tuple[str, str]:
    try:
        error = response.json()["error"]
        return str(error["code"]), str(error["message"])
    except (ValueError, KeyError, TypeError):
        return f"http_{response.status_code}", response.reason_phrase or "error"


def _hashes(values: list[str], what: str) -> tuple[bytes, ...]:
    try:
        return tuple(b64url_decode(value, what, 32) for value in values)
    except FormatError:
        raise DownloadUnreadable(what) from None


def _server_keys(info: _LogInfo) -> dict[str, bytes]:
    try:
        return {
            item["key_id"]: b64url_decode(item["public_key"], "server key", 32) for item in info.server_keys
        }
    except (KeyError, FormatError):
        raise DownloadUnreadable("the log's server keys") from None


def _device_key(device: _Device) -> DeviceKey:
    try:
        public_key = b64url_decode(device.public_key, "device key", 32)
    except FormatError:
        raise DownloadUnreadable("the device keys") from None
    return DeviceKey(device.device_id, device.user_id, public_key, device.enrolled_at, device.revoked_at)


def _entry_rows(page: _Entries, start: int, end: int) -> list[dict[str, Any]]:
    """A page's entries as the copy stores them, checked to be exactly ``[start, end)``."""
    if [entry.index for entry in page.entries] != list(range(start, end)):
        raise DownloadUnreadable(f"entries {start} to {end - 1} (some are missing or out of order)")
    rows = []
    for entry in page.entries:
        try:
            data = b64url_decode(entry.entry, "entry")
            salt = b64url_decode(entry.salt, "salt", 32) if entry.salt is not None else None
            signature = (
                b64url_decode(entry.signature, "signature", 64) if entry.signature is not None else None
            )
        except FormatError:
            raise DownloadUnreadable(f"entry {entry.index}") from None
        rows.append(
            {
                "index": entry.index,
                "entry_bytes": data,
                "leaf_hash": leaf_hash(data),
                "received_at": entry.received_at,
                "event": entry.event,
                "salt_bytes": salt,
                "signature_bytes": signature,
                "erased": entry.erased,
            }
        )
    return rows
