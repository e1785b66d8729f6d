"""C2SP tiled transparency logs (https://c2sp.org/tlog-tiles): tile coordinates, paths, tile
and entry-bundle contents, and rebuilding tree hashes from tiles.

Tiles have height 8.  The tile at level ``L`` and index ``N`` holds up to 256 consecutive hashes
of tree level ``8 * L`` (see :mod:`shared.merkle` for node addressing): nodes
``(8L, 256N) .. (8L, 256N + W - 1)``.  A full tile has ``W = 256``; the rightmost tile of a level
may be partial, with ``W = floor(size / 256**L) mod 256``.  Hashes between tile levels are not
served; they are recomputed from the 2**k tile hashes beneath them.

Paths are relative to the log prefix: ``tile/<L>/<N>[.p/<W>]`` and
``tile/entries/<N>[.p/<W>]``, with ``N`` written in 3-digit groups, every group but the last
prefixed with ``x`` (index 1234067 is ``x001/x234/067``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from shared.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    NodeId,
    node_hash,
    range_node_ids,
    root_from_nodes,
)

__all__ = [
    "MAX_ENTRY_SIZE",
    "MAX_TILE_LEVEL",
    "TILE_HEIGHT",
    "TILE_WIDTH",
    "EntryBundleId",
    "TileError",
    "TileId",
    "TileNodeReader",
    "decode_entry_bundle",
    "encode_entry_bundle",
    "encode_tile_index",
    "parse_tile_path",
    "partial_tiles",
    "root_from_tiles",
    "split_tile",
    "tile_bytes",
    "tile_width",
    "tiles_changed",
    "tiles_for_nodes",
    "tiles_for_root",
    "tiles_for_size",
]

TILE_HEIGHT: Final = 8
TILE_WIDTH: Final = 1 << TILE_HEIGHT
MAX_TILE_LEVEL: Final = 63
MAX_ENTRY_SIZE: Final = 0xFFFF
_MAX_INDEX: Final = 2**64 - 1

_LEVEL = re.compile(r"(?:0|[1-9][0-9]?)\Z")
_WIDTH = re.compile(r"[1-9][0-9]{0,2}\Z")
_INNER_GROUP = re.compile(r"x[0-9]{3}\Z")
_LAST_GROUP = re.compile(r"[0-9]{3}\Z")


class TileError(ValueError):
    """A tile path, tile or entry bundle is malformed or does not fit the tree."""


def _check_index(index: int) -> None:
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index <= _MAX_INDEX:
        raise TileError(f"tile index must be an integer in 0..2**64-1, got {index!r}")


def _check_width(width: int) -> None:
    if not isinstance(width, int) or isinstance(width, bool) or not 1 <= width <= TILE_WIDTH:
        raise TileError(f"tile width must be in 1..{TILE_WIDTH}, got {width!r}")


def encode_tile_index(index: int) -> str:
    """``N`` as path elements: 3-digit groups, all but the last prefixed with ``x``."""
    _check_index(index)
    digits = str(index)
    digits = digits.zfill(-(-len(digits) // 3) * 3)
    groups = [digits[i : i + 3] for i in range(0, len(digits), 3)]
    return "/".join([*(f"x{group}" for group in groups[:-1]), groups[-1]])


def _suffix(width: int) -> str:
    return "" if width == TILE_WIDTH else f".p/{width}"


@dataclass(frozen=True, order=True)
class TileId:
    """A Merkle tree tile: level, index within the level, and width (256 when full)."""

    level: int
    index: int
    width: int = TILE_WIDTH

    def __post_init__(self) -> None:
        if (
            not isinstance(self.level, int)
            or isinstance(self.level, bool)
            or not 0 <= self.level <= MAX_TILE_LEVEL
        ):
            raise TileError(f"tile level must be in 0..{MAX_TILE_LEVEL}, got {self.level!r}")
        _check_index(self.index)
        _check_width(self.width)

    @property
    def is_partial(self) -> bool:
        return self.width < TILE_WIDTH

    @property
    def path(self) -> str:
        return f"tile/{self.level}/{encode_tile_index(self.index)}{_suffix(self.width)}"

    def node_ids(self) -> list[NodeId]:
        """The tree nodes whose hashes make up this tile, in order."""
        level = self.level * TILE_HEIGHT
        start = self.index * TILE_WIDTH
        return [(level, start + offset) for offset in range(self.width)]


@dataclass(frozen=True, order=True)
class EntryBundleId:
    """A bundle of log entries: the entries whose leaf hashes form level-0 tile ``index``."""

    index: int
    width: int = TILE_WIDTH

    def __post_init__(self) -> None:
        _check_index(self.index)
        _check_width(self.width)

    @property
    def is_partial(self) -> bool:
        return self.width < TILE_WIDTH

    @property
    def path(self) -> str:
        return f"tile/entries/{encode_tile_index(self.index)}{_suffix(self.width)}"

    @property
    def first_entry(self) -> int:
        return self.index * TILE_WIDTH


def parse_tile_path(path: str) -> TileId | EntryBundleId:
    """Parse a tile or entry-bundle path (relative to the log prefix).

    Only the canonical spelling is accepted: no leading zeros in level or width, no leading
    all-zero ``x000`` groups, a ``.p/<W>`` suffix only for widths 1 to 255.
    """
    parts = path.split("/")
    if len(parts) < 3 or parts[0] != "tile":
        raise TileError(f"not a tile path: {path!r}")
    kind, elements = parts[1], parts[2:]
    width = TILE_WIDTH
    if len(elements) >= 2 and elements[-2].endswith(".p"):
        if not _WIDTH.match(elements[-1]) or int(elements[-1]) >= TILE_WIDTH:
            raise TileError(f"bad partial tile width in {path!r}")
        width = int(elements[-1])
        elements = [*elements[:-2], elements[-2][:-2]]
    if not (
        all(_INNER_GROUP.match(group) for group in elements[:-1])
        and _LAST_GROUP.match(elements[-1])
        and not (len(elements) > 1 and elements[0] == "x000")
    ):
        raise TileError(f"bad tile index in {path!r}")
    index = int("".join(group.lstrip("x") for group in elements))
    if index > _MAX_INDEX:
        raise TileError(f"tile index too large in {path!r}")
    if kind == "entries":
        return EntryBundleId(index, width)
    if not _LEVEL.match(kind) or int(kind) > MAX_TILE_LEVEL:
        raise TileError(f"bad tile level in {path!r}")
    return TileId(int(kind), index, width)


# --- Which tiles a tree has ------------------------------------------------------------------


def _check_size(size: int) -> None:
    if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= _MAX_INDEX:
        raise TileError(f"tree size must be an integer in 0..2**64-1, got {size!r}")


def tile_width(level: int, index: int, size: int) -> int:
    """Width of tile ``(level, index)`` in a tree of *size* leaves; 0 if it does not exist."""
    count = size >> (TILE_HEIGHT * level)
    full = count >> TILE_HEIGHT
    if index < full:
        return TILE_WIDTH
    if index == full:
        return count & (TILE_WIDTH - 1)
    return 0


def tiles_for_size(size: int) -> Iterator[TileId]:
    """Every tile of a tree of *size* leaves, level by level, full tiles before the partial."""
    _check_size(size)
    level = 0
    while count := size >> (TILE_HEIGHT * level):
        for index in range(count >> TILE_HEIGHT):
            yield TileId(level, index)
        if count & (TILE_WIDTH - 1):
            yield TileId(level, count >> TILE_HEIGHT, count & (TILE_WIDTH - 1))
        level += 1


def partial_tiles(size: int) -> list[TileId]:
    """The partial tiles of a tree of *size* leaves (at most one per level)."""
    _check_size(size)
    result = []
    level = 0
    while count := size >> (TILE_HEIGHT * level):
        if count & (TILE_WIDTH - 1):
            result.append(TileId(level, count >> TILE_HEIGHT, count & (TILE_WIDTH - 1)))
        level += 1
    return result


def tiles_changed(old_size: int, new_size: int) -> list[TileId]:
    """Tiles a tree of *new_size* has that one of *old_size* did not: what a log must write
    after growing.  A partial tile that grew appears with its new width."""
    _check_size(old_size)
    _check_size(new_size)
    if old_size > new_size:
        raise TileError(f"old size {old_size} is larger than new size {new_size}")
    result = []
    level = 0
    while (new_count := new_size >> (TILE_HEIGHT * level)) != (
        old_count := old_size >> (TILE_HEIGHT * level)
    ):
        for index in range(old_count >> TILE_HEIGHT, ((new_count - 1) >> TILE_HEIGHT) + 1):
            result.append(TileId(level, index, tile_width(level, index, new_size)))
        level += 1
    return result


# --- Tile and bundle contents ----------------------------------------------------------------


def tile_bytes(tile: TileId, hashes: Sequence[bytes]) -> bytes:
    """The tile's content from the hashes of :meth:`TileId.node_ids`."""
    if len(hashes) != tile.width:
        raise TileError(f"{tile.path} needs {tile.width} hashes, got {len(hashes)}")
    if any(len(value) != HASH_SIZE for value in hashes):
        raise TileError(f"{tile.path}: every hash must be {HASH_SIZE} bytes")
    return b"".join(hashes)


def split_tile(tile: TileId, data: bytes) -> list[bytes]:
    """The hashes in a tile's content; its length must match the tile's width exactly."""
    if len(data) != tile.width * HASH_SIZE:
        raise TileError(f"{tile.path} must be {tile.width * HASH_SIZE} bytes, got {len(data)}")
    return [data[i : i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)]


def encode_entry_bundle(entries: Iterable[bytes]) -> bytes:
    """Entries, each prefixed by its length as a big-endian uint16."""
    parts = []
    for position, entry in enumerate(entries):
        if len(entry) > MAX_ENTRY_SIZE:
            raise TileError(f"entry {position} is {len(entry)} bytes; bundles allow {MAX_ENTRY_SIZE}")
        parts.append(len(entry).to_bytes(2, "big"))
        parts.append(entry)
    return b"".join(parts)


def decode_entry_bundle(data: bytes, count: int | None = None) -> list[bytes]:
    """Split an entry bundle; with *count*, it must hold exactly that many entries."""
    entries: list[bytes] = []
    offset = 0
    while offset < len(data):
        if offset + 2 > len(data):
            raise TileError(f"entry bundle truncated in the length of entry {len(entries)}")
        length = int.from_bytes(data[offset : offset + 2], "big")
        offset += 2
        if offset + length > len(data):
            raise TileError(f"entry bundle truncated in entry {len(entries)}")
        entries.append(data[offset : offset + length])
        offset += length
    if count is not None and len(entries) != count:
        raise TileError(f"entry bundle holds {len(entries)} entries, expected {count}")
    return entries


# --- Tree hashes from tiles ------------------------------------------------------------------


def _source(node: NodeId, size: int) -> tuple[TileId, int, int]:
    """The tile from which *node* is computed, and the range of its hashes to combine."""
    level, index = node
    if level < 0 or index < 0 or (index + 1) << level > size:
        raise TileError(f"node ({level}, {index}) is not complete in a tree of size {size}")
    tile_level, height = divmod(level, TILE_HEIGHT)
    first = index << height
    tile_index = first >> TILE_HEIGHT
    tile = TileId(tile_level, tile_index, tile_width(tile_level, tile_index, size))
    start = first & (TILE_WIDTH - 1)
    return tile, start, start + (1 << height)


def tiles_for_nodes(ids: Iterable[NodeId], size: int) -> list[TileId]:
    """The tiles (of the tree of *size* leaves) needed to compute the given complete nodes."""
    _check_size(size)
    return list(dict.fromkeys(_source(node, size)[0] for node in ids))


def tiles_for_root(size: int) -> list[TileId]:
    """The tiles needed to compute the root of the tree of *size* leaves."""
    return tiles_for_nodes(range_node_ids(0, size), size)


def _perfect_root(hashes: list[bytes]) -> bytes:
    while len(hashes) > 1:
        hashes = [node_hash(hashes[i], hashes[i + 1]) for i in range(0, len(hashes), 2)]
    return hashes[0]


class TileNodeReader:
    """A :class:`shared.merkle.NodeReader` over tiles fetched for a tree of *size* leaves.

    Where a partial tile is asked for, the full tile at the same coordinates serves as well
    (its first hashes are the same), as clients may fetch it when the partial one is gone.
    """

    def __init__(self, size: int, tiles: Mapping[TileId, bytes]) -> None:
        _check_size(size)
        self._size = size
        self._tiles = tiles
        self._split: dict[TileId, list[bytes]] = {}

    def _hashes(self, tile: TileId) -> list[bytes]:
        if tile not in self._split:
            if tile in self._tiles:
                self._split[tile] = split_tile(tile, self._tiles[tile])
            else:
                full = TileId(tile.level, tile.index)
                if full not in self._tiles:
                    raise KeyError(f"tile {tile.path} was not provided")
                self._split[tile] = split_tile(full, self._tiles[full])[: tile.width]
        return self._split[tile]

    def get_nodes(self, ids: Sequence[NodeId]) -> list[bytes]:
        result = []
        for node in ids:
            tile, start, end = _source(node, self._size)
            result.append(_perfect_root(self._hashes(tile)[start:end]))
        return result


def root_from_tiles(size: int, tiles: Mapping[TileId, bytes]) -> bytes:
    """The root of the tree of *size* leaves from its tiles (those :func:`tiles_for_root`
    lists), so a client can check a checkpoint's root hash against the tiles it fetched."""
    if size == 0:
        return EMPTY_ROOT
    reader = TileNodeReader(size, tiles)
    return root_from_nodes(reader.get_nodes(range_node_ids(0, size)))
