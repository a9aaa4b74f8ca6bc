"""Section "splunk_apply": ``| kepler apply`` on splunkd's chunks, through the real command
and bridge, beside three other ways to score the same events (measurements in
:mod:`bench.splunk_sides`, the profile in :mod:`bench.splunk_profile`).

Kepler and the limit run in rounds, each the limit then Kepler, so that load from other
work on a shared machine falls on both alike; the headline compares the best of each.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bench import splunk_sides as sides
from bench.data import FEATURES, TARGET
from bench.report import Section, Table, rate, seconds, share
from bench.spine_fit import model_store
from bench.splunk_profile import BridgeSteps, Profile, command_profile

if TYPE_CHECKING:
    from bench.context import Context

MODEL = "bench_splunk"
ALGORITHM = "XGBoostClassifier"
PARAMS = {"n_estimators": 100, "max_depth": 6, "learning_rate": 0.1, "random_state": 0}
FIT_ROWS = 200_000  # the model is trained once on the first rows; scoring is the subject
ROUNDS = 2  # limit-then-Kepler rounds
PROFILE_CHUNKS = 4  # chunks of the profiled search and of the bridge's step timings
MLTK_BATCH_CHUNKS = 4  # MLTK's way, one predict per chunk: the first chunks only
MLTK_RECORD_EVENTS = 10_000  # MLTK's way, record by record: the first events only
LIMIT_TARGET = 0.5  # Kepler's events/s over the limit's reaches this
OTHERS_TARGET = 10.0  # ... and this many times MLTK's and DSDL's


def run(ctx: Context) -> Section:
    frame = ctx.dataset()
    stack = ctx.stack()
    fit_rows = min(FIT_ROWS, len(frame))
    ctx.log(f"fit {ALGORITHM} on {fit_rows:,} rows into {MODEL}")
    with stack.client(timeout=900) as client:
        fitted = client.fit(
            frame.iloc[:fit_rows],
            ALGORITHM,
            target=TARGET,
            features=FEATURES,
            into=MODEL,
            progress=False,
            **PARAMS,
        )
    assert fitted.version is not None
    ref = f"{MODEL}@{fitted.version}"
    pipeline, meta = model_store(stack).load(MODEL, fitted.version)

    ctx.log(f"encoding {len(frame):,} events as splunkd's CSV in {sides.CHUNK:,}-event chunks")
    bodies = sides.splunkd_chunks(frame[FEATURES])
    # `| kepler apply` declares the model's fields as required_fields: splunkd sends
    # those plus _chunked_idx, and merges the answer back by it.
    kbodies = sides.splunkd_chunks(frame[FEATURES], chunked_idx=True)
    model_path = sides.save_pipeline(pipeline, ctx.workdir / "splunk_apply_model.pkl")
    script = sides.command_script(ctx.workdir)

    ctx.log("warm-up: the limit and a one-chunk search (the bridge loads the version)")
    _, first = sides.limit(kbodies[:1], pipeline)
    cold = sides.kepler(stack, script, kbodies[:1], ref, first)
    limits: list[sides.Pass] = []
    keplers: list[sides.Pass] = []
    expected: list[Any] = []
    for i in range(ROUNDS):
        ctx.log(f"round {i + 1} of {ROUNDS}: the limit, then | kepler apply")
        lim, expected = sides.limit(kbodies, pipeline)
        limits.append(lim)
        ctx.log(f"  limit {lim.rate:,.0f} events/s")
        keplers.append(sides.kepler(stack, script, kbodies, ref, expected))
        ctx.log(f"  kepler {keplers[-1].rate:,.0f} events/s")

    k = min(PROFILE_CHUNKS, len(kbodies))
    ctx.log(f"profile: the command under cProfile, the bridge's steps in-process ({k} chunks)")
    steps = BridgeSteps(pipeline, meta)
    profile = command_profile(stack, ctx.workdir, kbodies[:k], ref, between=steps)
    profile.bridge = steps.result()

    ctx.log("DSDL's way: a CSV string inside JSON to a FastAPI app")
    dsdl = sides.dsdl(ctx.workdir, model_path, bodies, expected, ctx.log)
    ctx.log(f"  {dsdl.rate:,.0f} events/s")
    n = min(MLTK_BATCH_CHUNKS, len(bodies))
    ctx.log(f"MLTK's way, one predict per chunk: the first {n} chunks")
    batched = sides.mltk(model_path, bodies[:n], expected, batch=True)
    ctx.log(f"  {batched.rate:,.0f} events/s")
    ctx.log(f"MLTK's way, record by record: the first {MLTK_RECORD_EVENTS:,} events")
    per_record = sides.mltk(
        model_path,
        [sides.first_events(bodies[0], MLTK_RECORD_EVENTS)],
        expected,
        batch=False,
    )
    ctx.log(f"  {per_record.rate:,.0f} events/s")

    section = Section("Splunk: `| kepler apply` vs in-process, MLTK's way and DSDL's way")
    section.text(_workload(ctx, bodies, fit_rows, per_record, batched))
    best_k = min(keplers, key=lambda p: p.reading.wall_s)
    best_l = min(limits, key=lambda p: p.reading.wall_s)
    _headline(section, best_k, best_l, per_record, batched, dsdl)
    _rounds(section, limits, keplers)
    _anatomy(section, best_k, best_l, profile, cold)
    return section


def _ratio(k: sides.Pass, other: sides.Pass) -> float:
    return k.rate / other.rate


def _headline(
    section: Section,
    k: sides.Pass,
    lim: sides.Pass,
    per_record: sides.Pass,
    batched: sides.Pass,
    dsdl: sides.Pass,
) -> None:
    table = Table(
        ["", "events timed", "wall time", "events/s", "Kepler ÷ this", "target", "other load"],
        caption="scoring splunkd's chunks: events per second",
    )
    rows = [
        ("**`| kepler apply`** (command + bridge)", k, "", ""),
        ("(a) the limit: parse, `predict`, write, in-process", lim, LIMIT_TARGET, "≥"),
        ("(b) MLTK's way: splunklib, `predict` per record", per_record, OTHERS_TARGET, "≥"),
        ("(b′) the same command, one `predict` per chunk", batched, OTHERS_TARGET, ""),
        ("(c) DSDL's way: CSV string in JSON, pandas", dsdl, OTHERS_TARGET, "≥"),
    ]
    for name, p, target, sign in rows:
        ratio = _ratio(k, p)
        goal = ""
        if sign:
            met = ratio >= target
            goal = f"≥ {target:g}: " + ("met" if met else "**not met**")
        elif target:
            goal = "not a target"
        same = "" if p.identical in (None, True) else " ⚠ predictions differ"
        table.add(
            name + same,
            f"{p.events:,}",
            seconds(p.reading.wall_s),
            rate(p.events, p.reading.wall_s),
            "1.00" if p is k else f"{ratio:,.2f}",
            goal,
            share(p.reading.others),
        )
    section.table(table)
    same = all(p.identical for p in (k, lim, per_record, batched, dsdl))
    section.text(
        f"Kepler and the limit: the best of {ROUNDS} rounds (table below). "
        + (
            "Every way's predictions equal the limit's, event for event (checked after "
            "timing on every answer)."
            if same
            else "**Some way's predictions differ from the limit's** (⚠ above)."
        )
        + f" (b) ran on the first {per_record.events:,} events and (b′) on the first "
        f"{batched.chunks} chunks: their events/s are measured on those and would take "
        f"{k.events / per_record.rate / 3600:,.1f} h and {k.events / batched.rate:,.0f} s "
        f"for all {k.events:,} events (extrapolated linearly: both work event by event). "
        f"For scale: the limit itself runs {_ratio(lim, dsdl):.1f} times as many events per "
        f"second as DSDL's way and {_ratio(lim, batched):.1f} times as many as (b′), so a "
        f"relay at {LIMIT_TARGET} of the limit is {LIMIT_TARGET * _ratio(lim, dsdl):.1f} "
        "times DSDL's way."
    )


def _rounds(section: Section, limits: list[sides.Pass], keplers: list[sides.Pass]) -> None:
    table = Table(
        ["round", "limit (a)", "`| kepler apply`", "Kepler ÷ limit", "other load (a / Kepler)"],
        caption="rounds: the limit, then Kepler",
    )
    for i, (lim, k) in enumerate(zip(limits, keplers, strict=True)):
        table.add(
            i + 1,
            f"{seconds(lim.reading.wall_s)} ({rate(lim.events, lim.reading.wall_s)}/s)",
            f"{seconds(k.reading.wall_s)} ({rate(k.events, k.reading.wall_s)}/s)",
            f"{_ratio(k, lim):.2f}",
            f"{share(lim.reading.others)} / {share(k.reading.others)}",
        )
    section.table(table)


def _ms(s: float) -> str:
    return f"{1000 * s:,.0f} ms"


def _anatomy(
    section: Section, k: sides.Pass, lim: sides.Pass, profile: Profile, cold: sides.Pass
) -> None:
    wall = k.reading.wall_s
    cpu = Table(
        ["process (best round)", "CPU time", "per chunk", "share of the wall time"],
        caption="`| kepler apply`: CPU by process",
    )
    for name in ("harness / client (this process)", "command", "bridge"):
        label = {
            "harness / client (this process)": "the harness (splunkd's side, Python)",
            "command": "the `kepler` command (`python -S`)",
            "bridge": "the bridge (uvicorn; Arrow and XGBoost threads)",
        }[name]
        s = k.cpu.get(name, 0.0)
        cpu.add(label, seconds(s), _ms(s / k.chunks), f"{s / wall:.0%}")
    cpu.add("wall time", seconds(wall), _ms(wall / k.chunks), "100%")
    section.table(cpu)

    phases = Table(
        ["the command's wall time (profiled search)", "per chunk", "share"],
        caption=f"`| kepler apply`: the command process under cProfile, {profile.chunks} chunks",
    )
    total = profile.command["total (the command's `run`)"]
    for name, s in profile.command.items():
        phases.add(name, _ms(profile.per_chunk(s)), f"{s / total:.0%}")
    section.table(phases)

    wait = profile.command["wait for the bridge's answer"]
    steps = Table(
        ["the bridge's work per request, in-process", "per chunk", "share of the wait"],
        caption="`| kepler apply`: what the wait for the bridge is made of",
    )
    for name, s in profile.bridge.items():
        steps.add(name, _ms(profile.per_chunk(s)), f"{s / wait:.0%}")
    rest = wait - sum(profile.bridge.values())
    steps.add(
        "HTTP, uvicorn and the ASGI app (the wait minus the steps)",
        _ms(profile.per_chunk(rest)),
        f"{rest / wait:.0%}",
    )
    steps.add(
        "*for comparison*: the limit's typed parse / `predict` / write",
        " / ".join(_ms(lim.notes[s] / lim.chunks) for s in ("parse", "predict", "write")),
        "",
    )
    section.table(steps)
    section.text(_explain(k, lim, profile, cold))


def _explain(k: sides.Pass, lim: sides.Pass, profile: Profile, cold: sides.Pass) -> str:
    per = profile.per_chunk
    command = profile.command
    bridge = profile.bridge
    total = command["total (the command's `run`)"]
    wait = command["wait for the bridge's answer"]
    limit_chunk = (lim.notes["parse"] + lim.notes["predict"] + lim.notes["write"]) / lim.chunks
    steps = sorted(bridge.items(), key=lambda kv: kv[1], reverse=True)
    top, top_s = steps[0]
    harness = k.cpu.get("harness / client (this process)", 0.0) / k.chunks
    lines = [
        f"Where the time goes. A chunk takes {_ms(k.reading.wall_s / k.chunks)} through "
        f"Kepler against {_ms(lim.reading.wall_s / lim.chunks)} for the limit. The command "
        f"is a relay: {_ms(k.cpu.get('command', 0.0) / k.chunks)} of its own CPU per chunk, "
        f"while {wait / total:.0%} of its wall time is the wait for the bridge's answer "
        f"({_ms(per(wait))} per chunk).",
        f"Of that wait, the largest step is {top} at {_ms(per(top_s))} ({top_s / wait:.0%}); "
        f"the limit's parse, predict and write of a chunk take {_ms(limit_chunk)} together. "
        "Both parse only what scoring needs: splunkd sends the model's fields and "
        "`_chunked_idx`, and the bridge reads them with the numbers typed as float64.",
        f"The harness plays splunkd in Python: {_ms(harness)} of CPU per chunk (framing, pipe "
        "copies, finding each reply), in Kepler's wall time but not in the limit's; a real "
        "splunkd does this in C++.",
        f"getinfo (process start, settings, the model check against the bridge) took "
        f"{seconds(k.notes['getinfo_s'])}, not counted above. The warm-up search, one chunk "
        "on a bridge that had not loaded this version yet, took "
        f"{seconds(cold.reading.wall_s)}. Kepler's answers held "
        f"{k.notes['reply_bytes'] / 2**20:,.0f} MiB of CSV (`_chunked_idx` and "
        f"`predicted({TARGET})`: splunkd merges them back into the events it kept).",
    ]
    return "\n\n".join(lines)


def _workload(
    ctx: Context, bodies: list[bytes], fit_rows: int, per_record: sides.Pass, batched: sides.Pass
) -> str:
    mib = sum(len(b) for b in bodies) / 2**20
    shown = ", ".join(f"{k}={v!r}" for k, v in PARAMS.items())
    return f"""
Workload: the {len(FEATURES)} features of the dataset's {ctx.rows:,} rows as
{len(bodies)} execute chunks of up to {sides.CHUNK:,} events ({mib:,.0f} MiB), encoded before
timing as splunkd writes a command's input (a bare header, a `__mv_` column per field,
every value double-quoted, `\\n` line ends; checked byte for byte against the harness's
`encode_records`). The model: `Client.fit(first {fit_rows:,} rows, "{ALGORITHM}",
target="{TARGET}", features=[f00..f19], {shown})` into `{MODEL}` on the embedded stack
(`n_jobs`: Kepler's default, every core), loaded with `ModelStore.load` wherever a way
runs in-process; every way scores with that same pipeline.

- **`| kepler apply {MODEL}@<version>`**: the real command as the app ships it
  (`python -S`, the vendored splunklib, stdlib only), started by the protocol v2 harness
  of `tests/splunk/harness.py`. Its getinfo names the model's fields as
  `required_fields`, so splunkd sends those plus `_chunked_idx` (the chunks for Kepler and
  the limit carry that column) and merges the answer back into the events it kept; each
  chunk goes to the bridge as bytes
  (`POST /v1/models/<ref>/apply?include_input=false&echo=_chunked_idx`, CSV) and the
  answer, `_chunked_idx` and the prediction, comes back as the reply chunk.
  Timed from the first execute chunk to the last reply.
- **(a) the limit**: in this process, per chunk, `pyarrow.csv.read_csv` of the chunk
  Kepler's command gets (types inferred), the pipeline's `predict` on the 20 parsed
  columns, `pyarrow.csv.write_csv` of what the command's answer must hold (`_chunked_idx`
  and the prediction). No IPC, no protocol.
- **(b) MLTK's way**: `bench/mltk_command.py`, a splunklib `StreamingCommand` (the
  vendored splunklib 3.0.1 on this Python, through the same harness) that loads the
  pipeline once and, for each record dict splunklib hands it, builds a one-row frame and
  calls `predict` (one OpenMP thread). Measured on the first
  {per_record.events:,} events only (one chunk): at this rate 1,000,000 events take hours.
- **(b′)**: the same command collecting each chunk's records and calling `predict` once
  per chunk: splunklib's own cost (a `csv` reader into dicts, a Python writer) without
  the per-record `predict`; the first {batched.chunks} chunks. (b) and (b′) model
  record-at-a-time handling in splunklib, not MLTK's own code.
- **(c) DSDL's way**: `bench/dsdl_app.py`, a FastAPI app on uvicorn modelled on the
  `/apply` of DSDL's container, answering `{{"data": "<chunk as a CSV string>", "meta":
  ...}}` with `pandas.read_csv`, `predict`, `DataFrame.to_csv` inside JSON; the client
  posts each chunk with `requests` and takes the CSV string out of the answer. Kinder than
  DSDL: the model stays loaded (DSDL 5.2 reloads it per request) and the Splunk side's
  own parse and write (MLTK's, around DSDL's client) are not counted.
""".strip()
