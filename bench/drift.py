"""Drift over a million events: Kepler's histograms beside Evidently's own report.

Each measurement runs in a child process of its own (``python -m bench.drift one ...``),
so its peak resident memory (``VmHWM`` of its own memory map, less what the process held
before the work; not ``ru_maxrss``, which carries the peak of the benchmark process it was
forked from)
is its alone. The events are written once as Parquet in the row groups the dataset store
writes (about 8 MiB each; 20 fields: 14 numeric, 6 categorical; a window drifted in some
of them) and a 200,000-row reference beside it:

- **Kepler**: the reference's baseline is built once (its time reported), then the window
  is counted on the baseline's bins batch by batch from the Parquet file (65,536 rows a
  batch, as the bridge reads a dataset) and the drift rows computed: what
  ``| kepler drift`` makes the bridge do. Reading the Parquet is part of its time.
- **Evidently** 0.7.23 (``Report([DataDriftPreset()])``, its defaults: Wasserstein and
  Jensen-Shannon at these sizes): the window is first read into a DataFrame (not timed),
  then the report is run on it against the reference frame.

Both on 1,000,000 events, Kepler also on 250,000: its memory should not grow with them.
Run alone: ``KEPLER_BENCH_SECTIONS=drift python -m bench.run`` (or ``python -m bench.drift``
to print the section).
"""

from __future__ import annotations

import contextlib
import json
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from bench.report import Section, Table

if TYPE_CHECKING:
    from bench.context import Context

ROOT = Path(__file__).resolve().parent.parent
N_NUMERIC, N_CATEGORICAL = 14, 6
REFERENCE = 200_000
EVENTS = (250_000, 1_000_000)
BATCH = 65_536
TARGET_SPEEDUP = 5.0
# Flat: the memory the larger window adds over the smaller one is at most this share of
# what its extra events take as a DataFrame (Evidently's window, scaled to those events).
FLAT_SHARE = 0.1


def frame(n: int, seed: int, *, drifted: bool) -> pd.DataFrame:
    """Twenty fields; in the window, three numeric and two categorical ones move."""
    rng = np.random.default_rng(seed)
    cols: dict[str, Any] = {}
    for i in range(N_NUMERIC):
        shift = 0.3 if drifted and i < 3 else 0.0
        cols[f"n{i}"] = rng.normal(i + shift * (i + 1), 1 + i / 10, n)
    for j in range(N_CATEGORICAL):
        k = 5 + 5 * j
        p = np.linspace(1, 2, k)
        if drifted and j < 2:
            p = p[::-1]
        cols[f"c{j}"] = pd.array(rng.choice([f"v{v}" for v in range(k)], n, p=p / p.sum()), "str")
    return pd.DataFrame(cols)


TYPES = {
    **{f"n{i}": "numeric" for i in range(N_NUMERIC)},
    **{f"c{j}": "categorical" for j in range(N_CATEGORICAL)},
}


def write_parquet(data: pd.DataFrame, path: Path) -> None:
    """``data`` as the dataset store writes a part: row groups of about 8 MiB (pandas'
    default is one row group of up to a million rows, which a reader decodes whole)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from kepler.server.datasets.schema import row_groups

    table = pa.Table.from_pandas(data, preserve_index=False)
    with pq.ParquetWriter(path, table.schema) as writer:
        for group in row_groups(table.to_batches(max_chunksize=BATCH)):
            writer.write_table(group)


def write_inputs(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    write_parquet(frame(REFERENCE, 0, drifted=False), folder / "reference.parquet")
    for n in EVENTS:
        write_parquet(frame(n, 1, drifted=True), folder / f"events-{n}.parquet")


def _rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * resource.getpagesize()


def _reset_peak() -> None:
    """Start ``VmHWM`` afresh at the current resident size (Linux: ``clear_refs`` 5), so the
    peak read afterwards is the measured work's, not an earlier step's."""
    with contextlib.suppress(OSError), open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")


def _peak_bytes() -> int:
    """The peak resident memory of this process's own memory map (``VmHWM``): unlike
    ``ru_maxrss``, it starts afresh at ``exec`` instead of carrying the forking parent's."""
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmHWM:"))


def stream(path: Path) -> Any:
    """The file's batches, one row group read at a time. Not with ``ParquetFile``'s
    default ``pre_buffer=True``, which reads the column chunks of the whole file ahead, so
    its memory grows with the file; the dataset store reads a part at a time, each bounded."""
    import pyarrow.parquet as pq

    return pq.ParquetFile(path, pre_buffer=False).iter_batches(batch_size=BATCH)


def one_kepler(folder: Path, n: int) -> dict[str, Any]:
    from kepler.ml.monitoring import count_window, drift, profile_batches

    def reference() -> Any:
        return stream(folder / "reference.parquet")

    started = time.perf_counter()
    profile = profile_batches(reference, TYPES)
    baseline = {"fields": profile["fields"], "outputs": {}}
    baseline_s = time.perf_counter() - started
    _reset_peak()
    before = _rss_bytes()
    started = time.perf_counter()
    events = stream(folder / f"events-{n}.parquet")
    rows = drift(baseline, count_window(baseline, events))
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "baseline_s": baseline_s,
        "baseline_bytes": len(json.dumps(baseline)),
        "extra_bytes": max(_peak_bytes() - before, 0),
        "drifted": {r["field"]: bool(r["drifted"]) for r in rows},
        "statistics": {r["field"]: float(r["statistic"]) for r in rows},
    }


def one_evidently(folder: Path, n: int) -> dict[str, Any]:
    import pandas.core.dtypes.common as common

    # Evidently 0.7.23 imports a helper pandas 3 removed; see tests/ml/monitoring.
    if not hasattr(common, "infer_dtype_from_object"):
        common.infer_dtype_from_object = lambda dtype: np.dtype(dtype).type  # type: ignore[attr-defined]
    warnings.simplefilter("ignore")
    from evidently import Report
    from evidently.presets import DataDriftPreset

    reference = pd.read_parquet(folder / "reference.parquet")
    before = _rss_bytes()
    events = pd.read_parquet(folder / f"events-{n}.parquet")
    read_bytes = _rss_bytes() - before
    _reset_peak()
    before = _rss_bytes()  # the report's own memory, on top of the frames
    started = time.perf_counter()
    result = Report([DataDriftPreset()]).run(events, reference)
    seconds = time.perf_counter() - started
    drifted: dict[str, bool] = {}
    statistics: dict[str, float] = {}
    for metric in result.dict()["metrics"]:
        config = metric.get("config") or {}
        if config.get("type", "").endswith("ValueDrift"):
            column = config["column"]
            statistics[column] = float(metric["value"])
            drifted[column] = float(metric["value"]) >= float(config["threshold"])
    return {
        "seconds": seconds,
        "extra_bytes": max(_peak_bytes() - before, 0),
        "data_bytes": read_bytes,
        "drifted": drifted,
        "statistics": statistics,
    }


def _child(which: str, folder: Path, n: int) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.drift", "one", which, str(folder), str(n)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"bench.drift {which} {n} failed: {out.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _mib(b: float) -> str:
    return f"{b / 2**20:,.0f} MiB"


def section(folder: Path, log: Any = print) -> Section:
    log("drift: writing the reference and the events as Parquet")
    write_inputs(folder)
    results: dict[tuple[str, int], dict[str, Any]] = {}
    for which, n in (("kepler", EVENTS[0]), ("kepler", EVENTS[1]), ("evidently", EVENTS[1])):
        log(f"drift: {which} on {n:,} events")
        results[which, n] = _child(which, folder, n)
    big = EVENTS[1]
    kep, evi = results["kepler", big], results["evidently", big]
    small = results["kepler", EVENTS[0]]
    table = Table(
        ["run", "events", "seconds", "events/s", "peak memory added", "drifted fields"],
        caption=f"Drift of {N_NUMERIC + N_CATEGORICAL} fields against a {REFERENCE:,}-row "
        "reference",
    )
    for (which, n), r in results.items():
        table.add(
            "Kepler (histograms, streamed)" if which == "kepler" else "Evidently DataDriftPreset",
            f"{n:,}",
            f"{r['seconds']:.2f}",
            f"{n / r['seconds']:,.0f}",
            _mib(r["extra_bytes"]),
            sum(r["drifted"].values()),
        )
    agree = sum(kep["drifted"][f] == evi["drifted"].get(f) for f in TYPES)
    gaps = {
        f: abs(kep["statistics"][f] - evi["statistics"][f]) for f in TYPES if f in evi["statistics"]
    }
    worst_field = max(gaps, key=gaps.__getitem__)
    worst = gaps[worst_field]
    speedup = evi["seconds"] / kep["seconds"]
    growth = kep["extra_bytes"] - small["extra_bytes"]
    held = evi["data_bytes"] * (big - EVENTS[0]) / big  # the extra events, held as a frame
    flat = "met" if growth <= FLAT_SHARE * held else "not met"
    out = Section("Drift")
    out.text(__doc__.split("\n\n", 1)[1].split("Run alone")[0])
    out.table(table)
    out.text(
        f"On {big:,} events Kepler is **{speedup:.1f}x** Evidently's speed "
        f"(target: at least {TARGET_SPEEDUP:.0f}x: "
        f"{'met' if speedup >= TARGET_SPEEDUP else 'not met'}). Its memory added is "
        f"{_mib(small['extra_bytes'])} on {EVENTS[0]:,} events and "
        f"{_mib(kep['extra_bytes'])} on {big:,}: {_mib(max(growth, 0))} more for "
        f"{big - EVENTS[0]:,} more events, which take {_mib(held)} as a DataFrame (target "
        f"flat, at most {FLAT_SHARE:.0%} of that: {flat}; "
        "the window is counted batch by batch); "
        f"Evidently's holds the window as a DataFrame ({_mib(evi['data_bytes'])}, read before "
        f"its timing) and adds {_mib(evi['extra_bytes'])} on top. The drift decisions agree "
        f"on {agree} of {len(TYPES)} fields; the largest difference between the two "
        f"statistics is {worst:.4f} ({worst_field}: {kep['statistics'][worst_field]:.4f} against "
        f"{evi['statistics'][worst_field]:.4f}; {len(gaps)} fields compared). "
        f"The baseline took {kep['baseline_s']:.2f} s to build from "
        f"{REFERENCE:,} rows and is {kep['baseline_bytes'] / 1024:,.0f} KiB of JSON."
    )
    return out


def run(ctx: Context) -> Section:
    return section(ctx.workdir / "drift", ctx.log)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "one":
        which, folder, n = sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])
        fn = one_kepler if which == "kepler" else one_evidently
        print(json.dumps(fn(folder, n)))
    else:
        import tempfile

        with tempfile.TemporaryDirectory(prefix="kepler-bench-drift-") as tmp:
            print(section(Path(tmp), lambda m: print(m, file=sys.stderr)).markdown())
