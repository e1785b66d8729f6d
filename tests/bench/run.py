"""`make bench`: run every tests/bench/bench_*.py module and record its figures.

Each module exposes ``run(report)``.  A module calls
``report(name, figure, unit, baseline, baseline_name, higher_is_better=True)`` for each figure,
with the baseline measured in the same run on the same machine, because absolute numbers on
shared machines mean little.  Figures print as a table and are appended as JSON lines to
bench-results.jsonl at the repository root.

    python tests/bench/run.py            # every benchmark
    python tests/bench/run.py http auth  # only bench_http.py and bench_auth.py
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import subprocess
import sys
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parents[1]
RESULTS = ROOT / "bench-results.jsonl"
sys.path.insert(0, str(BENCH_DIR.parent / "lib"))
sys.path.insert(0, str(BENCH_DIR))


@dataclass
class Figure:
    name: str
    figure: float
    unit: str
    baseline: float
    baseline_name: str
    ratio: float
    higher_is_better: bool


class Recorder:
    def __init__(self, module: str) -> None:
        self.module = module
        self.figures: list[Figure] = []

    def __call__(
        self,
        name: str,
        figure: float,
        unit: str,
        baseline: float,
        baseline_name: str,
        higher_is_better: bool = True,
    ) -> None:
        ratio = figure / baseline if baseline else float("nan")
        entry = Figure(name, figure, unit, baseline, baseline_name, ratio, higher_is_better)
        self.figures.append(entry)
        print(f"  {name}: {figure:,.2f} {unit}", end="")
        print(f"  (baseline {baseline_name}: {baseline:,.2f} {unit}, ratio {ratio:.2f})")


def _commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _load(path: Path):  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv: list[str]) -> int:
    wanted = set(argv)
    modules = sorted(BENCH_DIR.glob("bench_*.py"))
    if wanted:
        modules = [path for path in modules if path.stem.removeprefix("bench_") in wanted]
    all_figures: list[tuple[str, Figure]] = []
    failed: list[str] = []
    for path in modules:
        print(f"== {path.stem}", flush=True)
        recorder = Recorder(path.stem)
        try:
            _load(path).run(recorder)
        except Exception:
            traceback.print_exc()
            failed.append(path.stem)
        all_figures.extend((path.stem, figure) for figure in recorder.figures)

    when = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    commit = _commit()
    with RESULTS.open("a", encoding="utf-8") as handle:
        for module, figure in all_figures:
            handle.write(
                json.dumps({"time": when, "commit": commit, "module": module, **asdict(figure)}) + "\n"
            )

    print()
    header = f"{'benchmark':<52} {'figure':>14} {'baseline':>14}  {'ratio':>6}  unit / baseline"
    print(header)
    print("-" * len(header))
    for _, f in all_figures:
        numbers = f"{f.figure:>14,.2f} {f.baseline:>14,.2f}  {f.ratio:>6.2f}"
        print(f"{f.name:<52} {numbers}  {f.unit} / {f.baseline_name}")
    print(f"\nappended {len(all_figures)} figures to {RESULTS.relative_to(ROOT)}")
    if failed:
        print(f"benchmarks that failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
