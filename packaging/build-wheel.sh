#!/usr/bin/env bash
# Build the kluis sdist and wheel of a commit (default HEAD) into OUT (default dist/), the
# same bytes on every run: the source is the commit itself (git archive, so uncommitted changes
# are left out), the build backend is pinned by packaging/build-constraints.txt, and every
# timestamp in both archives is the commit's time (SOURCE_DATE_EPOCH).  OUT also gets the
# commit's constraints.txt, the pins to install the wheel with, and SHA256SUMS.
#
#   packaging/build-wheel.sh [OUT [COMMIT]]        (or: make dist)
#
# Needs git, and PyPI (or the mirror pip is set up for) to install the pinned backend.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
python=${PYTHON:-python3}
out=${1:-$root/dist}
mkdir -p "$out"
out=$(cd "$out" && pwd)

cd "$root"
commit=$(git rev-parse --verify "${2:-HEAD}^{commit}")
SOURCE_DATE_EPOCH=$(git log -1 --format=%ct "$commit")
export SOURCE_DATE_EPOCH
if [[ -z "${2:-}" && -n "$(git status --porcelain --untracked-files=no)" ]]; then
    echo "build-wheel: the working tree has uncommitted changes; building commit $commit without them" >&2
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
umask 022
export PYTHONHASHSEED=0 PIP_DISABLE_PIP_VERSION_CHECK=1

mkdir "$work/src" "$work/sdist" "$work/wheel"
git archive --format=tar "$commit" | tar -x -C "$work/src"

"$python" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet -c "$here/build-constraints.txt" setuptools wheel

# The sdist through the PEP 517 hook of the pinned setuptools, then rewritten so that member
# order, owners, modes and times, and the gzip header, do not depend on the machine or the hour.
(cd "$work/src" && "$work/venv/bin/python" - "$work/sdist" <<'PY'
import gzip
import io
import os
import sys
import tarfile
from pathlib import Path

import setuptools.build_meta as backend

out = Path(sys.argv[1])
name = backend.build_sdist(str(out))
path = out / name
epoch = int(os.environ["SOURCE_DATE_EPOCH"])
with tarfile.open(path, "r:gz") as source:
    members = sorted(source.getmembers(), key=lambda member: member.name)
    contents = {m.name: source.extractfile(m).read() for m in members if m.isfile()}
with open(path, "wb") as raw:
    with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=epoch, compresslevel=9) as packed:
        with tarfile.open(fileobj=packed, mode="w", format=tarfile.PAX_FORMAT) as target:
            for member in members:
                member.mtime = epoch
                member.uid = member.gid = 0
                member.uname = member.gname = ""
                member.mode = 0o755 if member.isdir() or member.mode & 0o100 else 0o644
                member.pax_headers = {}
                data = contents.get(member.name)
                target.addfile(member, None if data is None else io.BytesIO(data))
print(name)
PY
) >"$work/sdist-name"
sdist=$(tail -n 1 "$work/sdist-name")

# The wheel from the sdist, as an installer would build it, with the same pinned backend.
mkdir "$work/unpacked"
tar -x -C "$work/unpacked" -f "$work/sdist/$sdist"
"$work/venv/bin/python" -m pip wheel --quiet --no-deps --no-build-isolation \
    -w "$work/wheel" "$work/unpacked/${sdist%.tar.gz}"

wheel=$(cd "$work/wheel" && echo *.whl)
cp "$work/sdist/$sdist" "$work/wheel/$wheel" "$out"/
git show "$commit:constraints.txt" >"$out/constraints.txt"
(cd "$out" && sha256sum "$sdist" "$wheel" constraints.txt >SHA256SUMS)
echo "build-wheel: commit $commit into $out:"
(cd "$out" && cat SHA256SUMS)
