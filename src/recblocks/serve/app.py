"""The HTTP application: ``POST /predict``, ``GET /health`` and FastAPI's OpenAPI docs (``/docs``).

``POST /predict`` takes ``{"rows": [{column: value, ...}, ...]}`` and answers
``{"scores": {output: [score per row]}, "rows": N}``. Every request is bounded (:class:`Limits`):
its body size (413), rows per request (413), JSON nesting depth (400) and the time it may take
(504). A bad row is a 422 naming it (``rows[3].user_id: expected a string or an integer id, got
an object``), as is data the preprocessing refuses (its one-line error); any other error is logged with its traceback and answered 500 with one line.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from recblocks.core.errors import RecBlocksError
from recblocks.serve.batcher import MicroBatcher
from recblocks.serve.scorer import RowError, Scorer

__all__ = ["Limits", "create_app"]

log = logging.getLogger("recblocks.serve")


@dataclass(frozen=True)
class Limits:
    """What one request may cost.

    Args:
        max_rows: rows per request.
        max_body_bytes: bytes of the request body.
        timeout: seconds from the first byte of the body to the answer.
        max_depth: JSON nesting depth (``{"rows": [{"hist": [..]}]}`` is 4).
        max_batch_rows / max_wait_ms: micro-batching (:class:`~recblocks.serve.batcher.MicroBatcher`).
    """

    max_rows: int = 1024
    max_body_bytes: int = 1 << 20
    timeout: float = 10.0
    max_depth: int = 8
    max_batch_rows: int = 4096
    max_wait_ms: float = 2.0


class PredictRequest(BaseModel):
    """The body of ``POST /predict`` (documentation; the body is read and checked by hand)."""

    rows: list[dict[str, Any]]


class PredictResponse(BaseModel):
    """The answer of ``POST /predict``: one list per output column, in row order."""

    scores: dict[str, list[float]]
    rows: int


class ErrorResponse(BaseModel):
    """A refused request: one line saying where and what."""

    error: str


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _depth(value: Any, limit: int) -> int:
    """The nesting depth of a parsed JSON value (stops counting past ``limit``)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > limit:
            return deepest
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return deepest


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _Refused(413, f"body: at most {limit} bytes per request, got {declared}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _Refused(413, f"body: at most {limit} bytes per request, got more")
        chunks.append(chunk)
    return b"".join(chunks)


def _parse(body: bytes, limits: Limits) -> list[Any]:
    try:
        data = json.loads(body)
    except RecursionError:
        raise _Refused(400, f"body: JSON nested deeper than {limits.max_depth} levels") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise _Refused(400, f"body: not JSON ({str(exc).splitlines()[0][:200]})") from None
    if _depth(data, limits.max_depth) > limits.max_depth:
        raise _Refused(400, f"body: JSON nested deeper than {limits.max_depth} levels")
    if not isinstance(data, dict) or "rows" not in data:
        raise _Refused(422, 'body: expected an object {"rows": [{column: value, ...}, ...]}')
    extra = sorted(set(data) - {"rows"})
    if extra:
        raise _Refused(422, f"body: unknown keys {extra[:5]}; expected only 'rows'")
    rows = data["rows"]
    if not isinstance(rows, list) or not rows:
        raise _Refused(422, "rows: expected a non-empty list of row objects")
    if len(rows) > limits.max_rows:
        raise _Refused(413, f"rows: at most {limits.max_rows} rows per request, got {len(rows)}")
    return rows


def create_app(scorer: Scorer, limits: Limits | None = None, info: dict[str, Any] | None = None) -> FastAPI:
    """The FastAPI application serving ``scorer`` within ``limits``; ``/health`` shows ``info``
    (default: the scorer's ``info`` attribute, when it has one)."""
    limits = limits or Limits()
    info = info if info is not None else dict(getattr(scorer, "info", {}))
    batcher = MicroBatcher(scorer, limits.max_batch_rows, limits.max_wait_ms)
    started = time.time()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> Any:
        await batcher.start()
        try:
            yield
        finally:
            await batcher.stop()

    app = FastAPI(title="recblocks model server", lifespan=lifespan,
                  description="Scores rows with a trained recblocks model: one score per row and output.")
    app.state.batcher = batcher

    async def handle(request: Request) -> dict[str, Any]:
        rows = _parse(await _read_body(request, limits.max_body_bytes), limits)
        scorer.check(rows)
        scores = await batcher.score(rows)
        return {"scores": scores, "rows": len(rows)}

    @app.post("/predict", response_model=PredictResponse,
              responses={400: {"model": ErrorResponse}, 413: {"model": ErrorResponse}, 422: {"model": ErrorResponse},
                         500: {"model": ErrorResponse}, 504: {"model": ErrorResponse}},
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/json": {"schema": PredictRequest.model_json_schema()}}}})
    async def predict(request: Request) -> Any:
        """Score rows: ``{"rows": [{column: value}, ...]}`` -> one list of scores per output."""
        try:
            return await asyncio.wait_for(handle(request), limits.timeout)
        except _Refused as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        except RowError as exc:
            return JSONResponse({"error": str(exc)}, status_code=422)
        except RecBlocksError as exc:  # the data cannot be scored (named by the preprocessing)
            return JSONResponse({"error": (str(exc).splitlines() or [""])[0][:500]}, status_code=422)
        except asyncio.TimeoutError:
            return JSONResponse({"error": f"request: not answered within {limits.timeout:g} s"}, status_code=504)
        except Exception as exc:  # noqa: BLE001 - logged with its traceback, answered in one line
            log.exception("POST /predict failed")
            line = (str(exc).splitlines() or [""])[0][:300]
            return JSONResponse({"error": f"internal error: {type(exc).__name__}: {line}"}, status_code=500)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        """Liveness and what is served: inputs, outputs, batching counters."""
        stats = batcher.stats
        return {"status": "ok", **(info or {}), "columns": list(scorer.columns), "outputs": list(scorer.outputs),
                "uptime_s": round(time.time() - started, 3), "waiting": batcher.waiting,
                "batches": stats.batches, "requests": stats.requests, "rows": stats.rows,
                "largest_batch_rows": stats.largest_batch_rows}

    return app
