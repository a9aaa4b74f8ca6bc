"""Run an SPL search through splunkd's REST API and return its results as a DataFrame.

A search streams through ``search/jobs/export`` (``output_mode=json``: one JSON object per
line), read in blocks of 1 MiB and built into the frame batch by batch, so memory holds the
frame, not the response and not a list of every row; there is no 50,000-row cap on an
export. :func:`splunk_pages` yields the export a typed page at a time instead, for a
caller that folds pages (a monitor's counts): its memory is a page. The results of an
existing job (``sid=``) are read page by page (``search/jobs/<sid>/results`` with
``offset``/``count``; splunkd caps a page at ``[restapi] maxresultrows``, 50,000). A FATAL
or ERROR message from splunkd, before the stream or in it, raises
:class:`~kepler.core.errors.SearchFailed` with splunkd's text.
"""

from __future__ import annotations

import http.client
import io
import json
import logging
import time
from collections.abc import Iterator, Mapping
from typing import Any

from kepler.core.errors import (
    BadParameter,
    DataError,
    SearchFailed,
    SplunkError,
    SplunkUnavailable,
)
from kepler.splunk.results import FrameBuilder
from kepler.splunk.service import connect, failure, messages_of, translate
from kepler.splunk.settings import SplunkSettings

log = logging.getLogger(__name__)

READ_BYTES = 1 << 20
PAGE_ROWS = 50_000  # splunkd's default [restapi] maxresultrows
POLL_S = 0.5
# Commands a search may start with when it has no leading pipe are search terms: splunkd
# wants "search <terms>", as Splunk Web adds it.
_GENERATING_PREFIX = ("|", "search ", "search\t")


def normalize(spl: str) -> str:
    query = spl.strip()
    if not query:
        raise BadParameter("the search is empty; pass SPL such as 'index=main | head 100'")
    return query if query.lower().startswith(_GENERATING_PREFIX) else f"search {query}"


def from_splunk(
    spl: str | None = None,
    *,
    earliest: str | None = None,
    latest: str | None = None,
    sid: str | None = None,
    dtype: Mapping[str, Any] | None = None,
    progress: bool = True,
    settings: SplunkSettings | None = None,
    service: Any = None,
    params: Mapping[str, Any] | None = None,
    max_rows: int | None = None,
) -> Any:
    """The results of ``spl`` over ``earliest``..``latest`` (Splunk time modifiers such as
    ``-24h@h``, ``now`` or ISO 8601), or of the job ``sid`` (waited for while it runs, at
    most ``KEPLER_SPLUNK_JOB_WAIT`` seconds), as a DataFrame.

    ``max_rows`` bounds what the frame may hold: past it the read stops and
    :class:`~kepler.core.errors.DataError` says so (nothing more is read from splunkd).
    ``df.attrs["splunk"]`` records the search, its time range, the sid and splunkd's
    non-failing messages (the lineage a fit keeps).
    """
    if (spl is None) == (sid is None):
        raise BadParameter("pass either an SPL search or sid=<an existing job's id>, not both")
    s = settings or SplunkSettings()
    svc = service or connect(s)
    builder = FrameBuilder(s.batch_rows)
    notes: list[tuple[str, str]] = []
    bar = _bar(progress, "splunk")
    try:
        if spl is not None:
            query = normalize(spl)
            stream = _export(svc, query, earliest, latest, params, s.url)
            try:
                for block in _blocks(stream, s.url):
                    _take_block(block, builder, notes)
                    _check_rows(builder, max_rows)
                    bar.update(builder.rows - bar.n)
            finally:
                stream.close()
            bar.update(builder.rows - bar.n)
        else:
            query = _read_job(svc, str(sid), builder, notes, bar, s, max_rows)
    finally:
        bar.close()
    frame = builder.frame(dtype)
    frame.attrs["splunk"] = {
        "search": query,
        "earliest": earliest,
        "latest": latest,
        "sid": sid,
        "rows": builder.rows,
        "messages": [list(m) for m in notes],
    }
    return frame


def splunk_pages(
    spl: str,
    *,
    earliest: str | None = None,
    latest: str | None = None,
    page_rows: int = PAGE_ROWS,
    dtype: Mapping[str, Any] | None = None,
    settings: SplunkSettings | None = None,
    service: Any = None,
) -> Iterator[Any]:
    """The results of ``spl`` as typed DataFrames of about ``page_rows`` rows each (a page
    ends at the first whole block past ``page_rows``), for a caller that folds them one by
    one: what is held at once is a page, however many rows the search returns. Each page
    is typed on its own (a column of numbers in one page may be text in another)."""
    s = settings or SplunkSettings()
    svc = service or connect(s)
    rows = max(1, int(page_rows))
    notes: list[tuple[str, str]] = []
    builder = FrameBuilder(min(s.batch_rows, rows))
    stream = _export(svc, normalize(spl), earliest, latest, None, s.url)
    try:
        for block in _blocks(stream, s.url):
            _take_block(block, builder, notes)
            if builder.rows >= rows:
                page = builder.frame(dtype)
                builder = FrameBuilder(min(s.batch_rows, rows))
                yield page
    finally:
        stream.close()
    if builder.rows:
        yield builder.frame(dtype)


def _export(
    svc: Any,
    query: str,
    earliest: str | None,
    latest: str | None,
    params: Mapping[str, Any] | None,
    url: str,
) -> Any:
    kw: dict[str, Any] = {"output_mode": "json", **dict(params or {})}
    if earliest is not None:
        kw["earliest_time"] = earliest
    if latest is not None:
        kw["latest_time"] = latest
    with translate(url):
        return svc.jobs.export(query, **kw)


def _bar(progress: bool, desc: str, total: int | None = None) -> Any:
    from tqdm.auto import tqdm

    return tqdm(
        total=total, desc=desc, unit=" rows", unit_scale=True, disable=None if progress else True
    )


def _blocks(stream: Any, url: str) -> Iterator[bytes]:
    """The streamed body in blocks of about ``READ_BYTES``, each ending with a whole line."""
    tail = b""
    while True:
        try:
            block = stream.read(READ_BYTES)
        except (OSError, http.client.HTTPException) as exc:
            raise SplunkUnavailable(
                f"the connection to splunkd at {url} broke mid-stream "
                f"({type(exc).__name__}); no partial frame is returned: run the search again"
            ) from None
        if not block:
            break
        cut = block.rfind(b"\n")
        if cut < 0:
            tail += block
            continue
        yield tail + block[: cut + 1]
        tail = block[cut + 1 :]
    if tail.strip():
        yield tail


def _take_block(block: bytes, builder: FrameBuilder, notes: list[tuple[str, str]]) -> None:
    """Parse a block of JSON lines in Arrow (C++, no Python object per value); a block that
    Arrow cannot type in one go (a field both single- and multivalued in it) goes line by
    line through ``json``."""
    parsed = _arrow_block(block)
    if parsed is None:
        for line in block.split(b"\n"):
            _take(line, builder, notes)
        return
    columns, rows, messages = parsed
    for raw in messages:
        _check(raw, notes)
    builder.add_columns(columns, rows)


def _arrow_block(block: bytes) -> tuple[dict[str, Any], int, list[Any]] | None:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.json as pajson

    try:
        table = pajson.read_json(
            io.BytesIO(block), read_options=pajson.ReadOptions(block_size=len(block) + 1)
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    messages: list[Any] = []
    if "messages" in table.column_names:
        messages = [m for m in table.column("messages").to_pylist() if m]
    if "result" not in table.column_names:
        return {}, 0, messages
    result = table.column("result")
    if not pa.types.is_struct(result.type):
        return None
    keep = pc.is_valid(result)
    if "preview" in table.column_names:  # a running transforming search's preview rows
        keep = pc.and_(keep, pc.invert(pc.fill_null(table.column("preview"), False)))
    kept = result.filter(keep).combine_chunks()
    columns: dict[str, Any] = {}
    for i in range(kept.type.num_fields):
        field = kept.type.field(i)
        arr = kept.field(i)
        if pa.types.is_null(field.type):
            continue
        multi = pa.types.is_list(field.type)
        if pa.types.is_string(field.type) or (multi and pa.types.is_string(field.type.value_type)):
            columns[field.name] = arr
        elif pa.types.is_list(field.type) and pa.types.is_null(field.type.value_type):
            columns[field.name] = arr.cast(pa.list_(pa.string()))
        else:
            return None  # not what splunkd writes (numbers, objects): the careful path
    return columns, len(kept), messages


def _take(line: bytes, builder: FrameBuilder, notes: list[tuple[str, str]]) -> None:
    if not line.strip():
        return
    try:
        obj = json.loads(line)
    except ValueError:
        raise SplunkUnavailable(
            "splunkd's export stream broke off mid-line (the connection dropped or a proxy "
            "cut it); run the search again"
        ) from None
    _check(obj.get("messages"), notes)
    if obj.get("preview"):
        return  # a transforming search's running preview: the final rows follow
    result = obj.get("result")
    if result is not None:
        builder.add(result)


def _check(raw: Any, notes: list[tuple[str, str]]) -> None:
    if not raw:
        return
    messages = messages_of(json.dumps({"messages": raw}))
    bad = failure(messages)
    if bad:
        raise SearchFailed(
            f"the search failed in Splunk: {bad}",
            detail={"messages": [list(m) for m in messages]},
        )
    for kind, text in messages:
        log.info("splunkd %s: %s", kind, text)
        if (kind, text) not in notes:
            notes.append((kind, text))


def _check_rows(builder: FrameBuilder, max_rows: int | None) -> None:
    if max_rows is not None and builder.rows > max_rows:
        raise DataError(
            f"the search returned more than {max_rows:,} rows, the most this read takes "
            "(max_rows); narrow the search or its time range, or aggregate it first "
            "(`| stats ... by ...`, `| timechart ...`)",
            detail={"max_rows": max_rows},
        )


def _read_job(
    svc: Any,
    sid: str,
    builder: FrameBuilder,
    notes: list[tuple[str, str]],
    bar: Any,
    s: SplunkSettings,
    max_rows: int | None,
) -> str:
    url = s.url
    try:
        with translate(url):
            job = svc.job(sid)
    except SplunkError as exc:
        if exc.detail.get("status") != 404:
            raise
        raise SearchFailed(
            f"Splunk has no job {sid!r} ({exc.message.rsplit(': ', 1)[-1]}); a job's results "
            "last for its TTL (10 minutes by default): run the search again"
        ) from None
    deadline = time.monotonic() + s.job_wait
    with translate(url):
        while not job.is_done():
            if job["isFailed"] == "1":
                break
            if time.monotonic() >= deadline:
                raise SearchFailed(
                    f"job {sid} is still running after {s.job_wait:g} s "
                    "(KEPLER_SPLUNK_JOB_WAIT); read it once it is done, or wait longer by "
                    "raising that setting",
                    detail={"sid": sid, "job_wait": s.job_wait},
                )
            time.sleep(POLL_S)
        content = job.content
    query = str(content.get("search") or "")
    if content.get("isFailed") == "1":
        raise SearchFailed(f"job {sid} failed in Splunk: {_job_messages(content) or 'no message'}")
    total = int(content.get("resultCount") or 0)
    bar.total = total
    offset = 0
    while offset < total:
        with translate(url):
            body = job.results(output_mode="json", count=PAGE_ROWS, offset=offset).read()
        page = json.loads(body) if body.strip() else {}
        _check(page.get("messages"), notes)
        results = page.get("results") or []
        if not results:
            break
        builder.extend(results)
        _check_rows(builder, max_rows)
        bar.update(len(results))
        offset += len(results)
    return query


def _job_messages(content: Mapping[str, Any]) -> str:
    messages = content.get("messages") or {}
    texts: list[str] = []
    if isinstance(messages, Mapping):
        for kind in ("fatal", "error"):
            value = messages.get(kind)
            texts.extend(value if isinstance(value, list) else [value] if value else [])
    return "; ".join(str(t) for t in texts)
