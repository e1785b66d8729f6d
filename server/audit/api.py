"""/api/v1/audit: event submission, the checkpoint and tiles (C2SP tlog-tiles under the
prefix /api/v1/audit), entries, proofs, keys and evidence bundles."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import select

from server.audit import ingest
from server.audit.api_models import (
    ConsistencyOut,
    ConsistencyQuery,
    DeviceKeyOut,
    DevicesOut,
    EntriesOut,
    EntriesQuery,
    EntryOut,
    ErasureOut,
    ErasuresOut,
    ErasuresQuery,
    EventResult,
    ExportIn,
    InclusionOut,
    InclusionQuery,
    LogInfoOut,
    ServerKeyOut,
    SubmitIn,
    SubmitOut,
)
from server.audit.export import ExportError, LogIdentity, device_keys, entry_value, export_range, export_trail
from server.audit.log import AuditLog
from server.audit.pending import record_server_event
from server.audit.store import build_proof, latest_checkpoint, load_state, node_range
from server.audit.tables import audit_entries
from server.auth.authorizer import principal_of
from server.auth.permissions import Permission
from server.http.errors import HTTPError
from server.http.messages import Request, Response
from server.http.routing import Public, Requires, Router
from shared.audit.bundle import BundleScope
from shared.audit.codec import FormatError, b64url_decode, b64url_encode
from shared.merkle import consistency_proof_plan, inclusion_proof_plan
from shared.tiles import (
    TILE_HEIGHT,
    TILE_WIDTH,
    EntryBundleId,
    TileError,
    TileId,
    encode_entry_bundle,
    parse_tile_path,
)

PREFIX = "/api/v1/audit"
TAGS = ["audit"]
MAX_PAGE = 1000
MAX_ERASURES_PAGE = 10_000
# Tile paths hold up to 7 index groups (2**64) plus the partial-width segment.
_MAX_TILE_SEGMENTS = 8
_IMMUTABLE = [("cache-control", "public, max-age=31536000, immutable")]


def _event_results(results: list[ingest.Result]) -> SubmitOut:
    return SubmitOut(
        results=[
            EventResult(
                event_id=result.event_id,
                status="rejected" if result.refused else "accepted",
                index=result.index,
                reason=result.refused.reason.value if result.refused else None,
                message=result.refused.message if result.refused else None,
            )
            for result in results
        ]
    )


def audit_routes(router: Router, audit: AuditLog) -> None:
    database = audit.database
    identity = LogIdentity(audit.origin, audit.keys.verifier.encode(), dict(audit.keys.server_keys))

    @router.post(
        f"{PREFIX}/events",
        access=Requires(Permission.SESSION_SELF),
        summary="Submit device-signed audit events; each is accepted (with its log index) or rejected.",
        tags=TAGS,
    )
    async def audit_submit(request: Request, body: SubmitIn) -> SubmitOut:
        principal = principal_of(request)
        caller = ingest.Caller(principal.user_id, principal.device_id, frozenset(principal.roles))
        items: list[tuple[bytes, bytes]] = []
        undecodable: dict[int, ingest.Result] = {}
        for position, submitted in enumerate(body.events):
            try:
                items.append(
                    (
                        b64url_decode(submitted.event, "event"),
                        b64url_decode(submitted.signature, "signature", 64),
                    )
                )
            except FormatError as exc:
                undecodable[position] = ingest.Result(
                    None, refused=ingest.Refused(ingest.Reason.MALFORMED, str(exc))
                )
                items.append((b"", b""))
        decided = await audit.submit(caller, [item for n, item in enumerate(items) if n not in undecodable])
        answers = iter(decided)
        return _event_results(
            [undecodable[n] if n in undecodable else next(answers) for n in range(len(items))]
        )

    @router.get(
        f"{PREFIX}/checkpoint",
        access=Public("the signed tree head is what witnesses and standard tlog tooling fetch first"),
        summary="The latest signed checkpoint (C2SP tlog-checkpoint as a signed note).",
        produces="text/plain",
        tags=TAGS,
        errors=[404],
    )
    async def audit_checkpoint(request: Request) -> Response:
        async with database.transaction() as connection:
            checkpoint = await latest_checkpoint(connection)
        if checkpoint is None:
            raise HTTPError(404, "no_checkpoint", "The log has no signed checkpoint yet.")
        return Response(
            body=checkpoint.note,
            content_type="text/plain; charset=utf-8",
            headers=[("cache-control", "no-store")],
        )

    @router.get(
        f"{PREFIX}/verifier-key",
        access=Public("a public key: checkpoints are verified with it"),
        summary="The log's note verifier key (name+id+key), one line.",
        produces="text/plain",
        tags=TAGS,
    )
    async def audit_verifier_key(request: Request) -> Response:
        return Response(
            body=(identity.verifier_key + "\n").encode(), content_type="text/plain; charset=utf-8"
        )

    @router.get(
        f"{PREFIX}/log",
        access=Public("the log's name, size and public keys reveal no event"),
        summary="The log's origin, size, minimum index and public keys.",
        tags=TAGS,
    )
    async def audit_log_info(request: Request) -> LogInfoOut:
        async with database.transaction() as connection:
            state = await load_state(connection, lock=False)
            checkpoint = await latest_checkpoint(connection)
        return LogInfoOut(
            origin=identity.origin,
            verifier_key=identity.verifier_key,
            size=state.size,
            min_index=state.min_index,
            checkpoint_size=checkpoint.size if checkpoint else None,
            server_keys=[
                ServerKeyOut(key_id=kid, public_key=b64url_encode(key))
                for kid, key in sorted(identity.server_keys.items())
            ],
        )

    @router.get(
        f"{PREFIX}/devices",
        access=Requires(Permission.AUDIT_VERIFY),
        summary="Every enrolled device's public key, to check event signatures offline.",
        tags=TAGS,
    )
    async def audit_devices(request: Request) -> DevicesOut:
        async with database.transaction() as connection:
            keys = await device_keys(connection)
        return DevicesOut(
            devices=[
                DeviceKeyOut(
                    device_id=key.device_id,
                    user_id=key.user_id,
                    public_key=b64url_encode(key.public_key),
                    enrolled_at=key.enrolled_at,
                    revoked_at=key.revoked_at,
                )
                for key in keys
            ]
        )

    @router.get(
        f"{PREFIX}/entries",
        access=Requires(Permission.AUDIT_READ),
        summary="Entries and their events by index range, optionally filtered.",
        query=EntriesQuery,
        tags=TAGS,
        errors=[422],
    )
    async def audit_entries_page(request: Request) -> EntriesOut:
        query = request.query_as(EntriesQuery)
        end = query.start + MAX_PAGE if query.end is None else query.end
        if end < query.start or end - query.start > MAX_PAGE:
            raise HTTPError(422, "bad_range", f"end must be between start and start + {MAX_PAGE}.")
        async with database.transaction() as connection:
            state = await load_state(connection, lock=False)
            end = min(end, state.size)
            statement = select(audit_entries).where(
                audit_entries.c.idx >= query.start, audit_entries.c.idx < end
            )
            for name in ("actor", "device", "action", "object_type", "object_id", "purpose", "outcome"):
                value = getattr(query, name)
                if value is not None:
                    statement = statement.where(audit_entries.c[name] == value)
            rows = list(await connection.execute(statement.order_by(audit_entries.c.idx)))
        entries = []
        for row in rows:
            value = entry_value(row)
            entries.append(
                EntryOut(
                    index=row.idx,
                    received_at=row.received_at,
                    entry=value["entry"],
                    event=value["event"],
                    salt=value["salt"],
                    signature=value["signature"],
                    erased=value["erased"],
                )
            )
        return EntriesOut(
            size=state.size,
            min_index=state.min_index,
            next_start=end if query.end is None and end < state.size else None,
            entries=entries,
        )

    @router.get(
        f"{PREFIX}/erasures",
        access=Requires(Permission.AUDIT_READ),
        summary="Erased entries by index, so that copies of the log erase them too.",
        query=ErasuresQuery,
        tags=TAGS,
        errors=[422],
    )
    async def audit_erasures(request: Request) -> ErasuresOut:
        query = request.query_as(ErasuresQuery)
        async with database.transaction() as connection:
            state = await load_state(connection, lock=False)
            rows = list(
                await connection.execute(
                    select(audit_entries.c.idx, audit_entries.c.erased_reason)
                    .where(audit_entries.c.erased_at.is_not(None), audit_entries.c.idx >= query.start)
                    .order_by(audit_entries.c.idx)
                    .limit(MAX_ERASURES_PAGE + 1)
                )
            )
        more = len(rows) > MAX_ERASURES_PAGE
        rows = rows[:MAX_ERASURES_PAGE]
        return ErasuresOut(
            min_index=state.min_index,
            next_start=rows[-1].idx + 1 if more else None,
            erased=[ErasureOut(index=row.idx, reason=row.erased_reason) for row in rows],
        )

    @router.get(
        f"{PREFIX}/proof/inclusion",
        access=Requires(Permission.AUDIT_VERIFY),
        summary="RFC 9162 inclusion proof of entry `index` in the tree of `size` entries.",
        query=InclusionQuery,
        tags=TAGS,
        errors=[422],
    )
    async def audit_inclusion_proof(request: Request) -> InclusionOut:
        query = request.query_as(InclusionQuery)
        async with database.transaction() as connection:
            size = (await load_state(connection, lock=False)).size
            if query.size > size:
                raise HTTPError(422, "size_beyond_log", f"The log has {size} entries.")
            if query.index >= query.size:
                raise HTTPError(422, "index_beyond_size", "index must be less than size.")
            proof = await build_proof(connection, inclusion_proof_plan(query.index, query.size))
            (leaf,) = await node_range(connection, 0, query.index, query.index + 1)
        return InclusionOut(
            index=query.index,
            size=query.size,
            leaf_hash=b64url_encode(leaf),
            hashes=[b64url_encode(h) for h in proof],
        )

    @router.get(
        f"{PREFIX}/proof/consistency",
        access=Requires(Permission.AUDIT_VERIFY),
        summary="RFC 9162 consistency proof from the tree of `size1` entries to that of `size2`.",
        query=ConsistencyQuery,
        tags=TAGS,
        errors=[422],
    )
    async def audit_consistency_proof(request: Request) -> ConsistencyOut:
        query = request.query_as(ConsistencyQuery)
        async with database.transaction() as connection:
            size = (await load_state(connection, lock=False)).size
            if query.size2 > size:
                raise HTTPError(422, "size_beyond_log", f"The log has {size} entries.")
            if query.size1 > query.size2:
                raise HTTPError(422, "sizes_reversed", "size1 must not exceed size2.")
            proof = await build_proof(connection, consistency_proof_plan(query.size1, query.size2))
        return ConsistencyOut(size1=query.size1, size2=query.size2, hashes=[b64url_encode(h) for h in proof])

    @router.post(
        f"{PREFIX}/export",
        access=Requires(Permission.AUDIT_EXPORT),
        summary="An evidence bundle of a range, an object's trail or an actor's trail, for kluis-verify.",
        response=None,
        tags=TAGS,
        errors=[409, 410, 422],
    )
    async def audit_export(request: Request, body: ExportIn) -> Response:
        principal = principal_of(request)
        now = audit.clock()
        if body.kind == "range":
            scope = BundleScope("range", start=body.start, end=body.end or 0)
        elif body.kind == "object":
            scope = BundleScope("object", object_type=body.object_type, object_id=body.object_id)
        else:
            scope = BundleScope("actor", actor=body.actor)
        try:
            async with database.snapshot() as connection:
                if body.kind == "range":
                    bundle = await export_range(connection, identity, body.start, body.end, body.since, now)
                else:
                    bundle = await export_trail(connection, identity, scope, body.since, now)
        except ExportError as exc:
            raise HTTPError(exc.status, exc.code, exc.message) from None
        target = (
            ("audit_log", "range")
            if scope.kind == "range"
            else (scope.object_type, scope.object_id)
            if scope.kind == "object"
            else ("user", str(scope.actor))
        )
        try:
            async with database.transaction(write=True) as connection:
                await record_server_event(
                    connection,
                    action="export",
                    object_type=target[0],
                    object_id=target[1],
                    actor=principal.user_id,
                    device=principal.device_id,
                    role="auditor" if "auditor" in principal.roles else sorted(principal.roles)[0],
                    purpose=body.purpose,
                )
        except FormatError as exc:
            raise HTTPError(
                422, "invalid_export", f"The export cannot be recorded: {exc.where} {exc.reason}."
            ) from None
        return Response(body=json.dumps(bundle, separators=(",", ":")).encode())

    _tile_routes(router, audit)


def _tile_routes(router: Router, audit: AuditLog) -> None:
    database = audit.database

    async def hash_tile(request: Request) -> Response:
        path = "tile/" + "/".join(str(request.path_params[f"p{n}"]) for n in range(len(request.path_params)))
        try:
            tile = parse_tile_path(path)
        except TileError:
            raise HTTPError(404, "not_found", "No such tile.") from None
        if not isinstance(tile, TileId):
            raise HTTPError(404, "not_found", "No such tile.")
        level = tile.level * TILE_HEIGHT
        first = tile.index * TILE_WIDTH
        async with database.transaction() as connection:
            size = (await load_state(connection, lock=False)).size
            if (first + tile.width) << level > size:
                raise HTTPError(404, "not_found", "The tree has not grown that far yet.")
            hashes = await node_range(connection, level, first, first + tile.width)
        return Response(
            body=b"".join(hashes), content_type="application/octet-stream", headers=list(_IMMUTABLE)
        )

    async def entry_bundle(request: Request) -> Response:
        path = "tile/entries/" + "/".join(
            str(request.path_params[f"p{n}"]) for n in range(1, len(request.path_params) + 1)
        )
        try:
            bundle = parse_tile_path(path)
        except TileError:
            raise HTTPError(404, "not_found", "No such entry bundle.") from None
        assert isinstance(bundle, EntryBundleId)
        first = bundle.first_entry
        async with database.transaction() as connection:
            state = await load_state(connection, lock=False)
            if first + bundle.width > state.size:
                raise HTTPError(404, "not_found", "The log has not grown that far yet.")
            if first < state.min_index:
                raise HTTPError(410, "pruned", "These entries were pruned past retention.")
            rows = list(
                await connection.execute(
                    select(audit_entries.c.entry)
                    .where(audit_entries.c.idx >= first, audit_entries.c.idx < first + bundle.width)
                    .order_by(audit_entries.c.idx)
                )
            )
        if len(rows) != bundle.width:
            raise HTTPError(404, "not_found", "These entries are not all in the log.")
        return Response(
            body=encode_entry_bundle(bytes(row.entry) for row in rows),
            content_type="application/octet-stream",
            headers=list(_IMMUTABLE),
        )

    def register(
        handler: Callable[[Request], Awaitable[Response]], name: str, path: str, access: Any, summary: str
    ) -> None:
        handler.__name__ = name
        handler.__qualname__ = name
        router.get(
            path,
            access=access,
            summary=summary,
            produces="application/octet-stream",
            tags=TAGS,
            errors=[404, 410],
        )(handler)

    # Entry bundles first: the router tries templates in order, and "entries" is also a
    # valid-looking level segment for the hash-tile templates.
    for depth in range(1, _MAX_TILE_SEGMENTS + 1):
        segments = "/".join(f"{{p{n}}}" for n in range(1, depth + 1))
        register(
            _copy(entry_bundle),
            f"audit_entry_bundle_{depth}",
            f"{PREFIX}/tile/entries/{segments}",
            Requires(Permission.AUDIT_READ),
            "An entry bundle (C2SP tlog-tiles): the entries of one level-0 tile.",
        )
    for depth in range(1, _MAX_TILE_SEGMENTS + 1):
        segments = "/".join(f"{{p{n}}}" for n in range(0, depth + 1))
        register(
            _copy(hash_tile),
            f"audit_hash_tile_{depth}",
            f"{PREFIX}/tile/{segments}",
            Public("hash tiles hold only hashes of salted commitments; tlog tooling fetches them"),
            "A hash tile (C2SP tlog-tiles).",
        )


def _copy(handler: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
    async def route(request: Request) -> Response:
        return await handler(request)

    return route
