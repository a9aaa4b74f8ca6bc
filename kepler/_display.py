"""Results as HTML tables for Jupyter: every value escaped, long lists cut."""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping
from typing import Any

MAX_ROWS = 20  # importances, versions and leaderboard rows shown inline
STYLE = "border-collapse:collapse;text-align:left"


def fmt(value: Any) -> str:
    """A cell's text: floats to 4 significant digits, containers as compact JSON."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, default=str, separators=(", ", ": "))
    return str(value)


def link(url: str | None, text: str = "MLflow run") -> str:
    if not url:
        return ""
    return f'<a href="{html.escape(url, quote=True)}" target="_blank">{html.escape(text)}</a>'


def fields_table(rows: Iterable[tuple[str, Any]], *, raw: Iterable[str] = ()) -> str:
    """A two-column table of ``(name, value)``; names in ``raw`` hold HTML already made."""
    trusted = set(raw)
    body = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{v if k in trusted else html.escape(fmt(v))}</td></tr>"
        for k, v in rows
        if v not in (None, "", {}, [])
    )
    return f'<table style="{STYLE}">{body}</table>'


def grid(header: list[str], rows: Iterable[Iterable[Any]], *, total: int | None = None) -> str:
    """A table with ``header``; ``total`` rows in all says how many were left out."""
    shown = [list(r) for r in rows]
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(fmt(c))}</td>" for c in r) + "</tr>" for r in shown
    )
    more = ""
    if total is not None and total > len(shown):
        more = f"<p>{total - len(shown)} more rows not shown</p>"
    return f'<table style="{STYLE}"><tr>{head}</tr>{body}</table>{more}'


def titled(title: str, *parts: str) -> str:
    return f'<div class="kepler-result"><h4>{html.escape(title)}</h4>{"".join(parts)}</div>'


def metrics_table(metrics: Mapping[str, Any]) -> str:
    if not metrics:
        return ""
    return "<h5>holdout metrics</h5>" + grid(
        list(metrics), [[metrics[k] for k in metrics]], total=None
    )


def fit_html(result: Any) -> str:
    rows = [
        ("model", result.ref),
        ("job", result.job_id),
        ("rows", result.rows),
        ("seconds", result.duration_s),
        ("run", link(result.url) or result.run_id),
    ]
    return titled(
        f"fit {result.ref or result.job_id}",
        fields_table(rows, raw=["run"] if result.url else []),
        metrics_table(result.metrics),
    )


def automl_html(result: Any) -> str:
    rows = [
        ("model", result.ref),
        ("winner", result.algorithm),
        ("params", result.params),
        (f"best cv {result.metric or 'score'}", result.best_cv_score),
        ("trials", result.counts),
        ("workers", ", ".join(result.workers)),
        ("seconds", result.duration_s),
        ("run", link(result.url) or result.run_id),
    ]
    board = result.leaderboard
    parts = [fields_table(rows, raw=["run"] if result.url else []), metrics_table(result.metrics)]
    if board is not None and len(board):
        columns = [str(c) for c in board.columns]
        parts.append("<h5>leaderboard</h5>")
        parts.append(grid(columns, board.head(MAX_ROWS).itertuples(index=False), total=len(board)))
    return titled(f"AutoML {result.ref or result.job_id}", *parts)


def reproduce_html(result: Any) -> str:
    rule = result.rule or {}
    rows = [
        ("reproduces", result.reproduces),
        ("new version", result.ref),
        ("verdict", result.verdict),
        ("rule", f"{rule.get('text', rule.get('kind'))}: {rule.get('why', '')}"),
        ("forced", result.forced or None),
        (
            "packages",
            [
                f"{d['package']} {d['recorded']} -> {d['installed']}"
                for d in result.package_differences
            ],
        ),
        ("seconds", result.duration_s),
        ("run", link(result.url) or result.run_id),
    ]
    keys = ["item", "original", "reproduced", "difference", "rule", "tolerance", "match"]
    table = grid(keys, ([r.get(k) for k in keys] for r in result.comparison))
    title = f"reproduce {result.reproduces} as {result.ref or result.job_id}"
    return titled(title, fields_table(rows, raw=["run"] if result.url else []), table)


def summary_html(summary: Mapping[str, Any], url: str | None = None) -> str:
    name = summary.get("name")
    title = f"{name}@{summary.get('version')}" if name else "model"
    aliases = summary.get("aliases") or []
    rows = [
        ("algorithm", summary.get("algorithm")),
        ("task", summary.get("task")),
        ("target", summary.get("target")),
        ("features", ", ".join(summary.get("features") or [])),
        ("aliases", ", ".join(aliases)),
        ("params", summary.get("params")),
        ("rows", _rows(summary)),
        ("created", summary.get("created")),
        ("user", summary.get("user")),
        ("reproduces", _reproduces(summary.get("reproduces"))),
        ("reproductions", _reproductions(summary)),
        ("run", link(url) or summary.get("run_id")),
    ]
    parts = [
        fields_table(rows, raw=["run"] if url else []),
        metrics_table(summary.get("metrics") or {}),
    ]
    explained = summary.get("importances") or summary.get("coefficients") or []
    if explained:
        names = ("feature", "class", "importance", "coefficient", "score", "p-value", "selected")
        keys = [k for k in names if k in explained[0]]
        heading = "importances" if "importance" in keys else "coefficients"
        parts.append(f"<h5>{'field scores' if 'score' in keys else heading}</h5>")
        parts.append(
            grid(
                keys, ([e.get(k) for k in keys] for e in explained[:MAX_ROWS]), total=len(explained)
            )
        )
    versions = summary.get("versions") or []
    if versions:
        keys = ["version", "created", "user", "aliases"]
        parts.append("<h5>versions</h5>")
        parts.append(
            grid(
                keys, ([v.get(k) for k in keys] for v in versions[-MAX_ROWS:]), total=len(versions)
            )
        )
    for warning in summary.get("warnings") or []:
        parts.append(f"<p>warning: {html.escape(str(warning))}</p>")
    return titled(title, *parts)


def _reproduces(found: Any) -> str | None:
    if not isinstance(found, Mapping):
        return None
    forced = " (forced)" if found.get("forced") else ""
    return f"{found.get('of')}: {found.get('verdict')}{forced}"


def _reproductions(summary: Mapping[str, Any]) -> str | None:
    name = summary.get("name")
    found = [
        f"{name}@{r.get('version')}: {r.get('verdict')}{' (forced)' if r.get('forced') else ''}"
        for r in summary.get("reproductions") or []
    ]
    return ", ".join(found) or None


def _rows(summary: Mapping[str, Any]) -> str | None:
    n_train, n_holdout = summary.get("n_train"), summary.get("n_holdout")
    if n_train is None:
        return None
    return f"{n_train:,} trained, {n_holdout or 0:,} held out"
