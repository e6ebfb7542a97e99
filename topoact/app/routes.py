"""Flask routes of the app: run images by row index.

``GET /topoact/image/<row>.png`` serves row ``row`` of the run as a PNG (longest side at most
``MAX_SIDE`` px, never upscaled). Only an integer row is parsed from the request (Flask's
``int`` converter: no sign, no path); rows outside ``[0, run.n)`` are 404. Nothing from the
request is ever used as a file path. Responses carry ``Cache-Control: public, max-age=86400``
and an ETag (the run identity plus the row), so the browser reuses exemplars, and recently
served PNGs are kept in memory (the app's one LRU helper, keyed by row).
"""
from __future__ import annotations

import io
import logging

from typing import TYPE_CHECKING

from flask import Response, abort, request

if TYPE_CHECKING:
    from flask import Flask

    from topoact.store import Run

logger = logging.getLogger(__name__)

IMAGE_ROUTE = "/topoact/image/<int:row>.png"
MAX_SIDE = 256


def image_url(row: int) -> str:
    """The URL of row ``row``'s image on the image route."""
    return f"/topoact/image/{int(row)}.png"


def register_routes(server: Flask, run: Run) -> None:
    """Add the image route to the Flask ``server`` of a Dash app on ``run``.

    Parameters
    ----------
    server : flask.Flask
        ``app.server`` of the Dash app.
    run : topoact.store.Run
        The run whose images are served (``run.image(row)``).
    """
    from topoact.app.context import cached
    from topoact.hashing import stable_hash

    # the ETag names the run by content (its collection settings), never by an object id
    identity = str(run.meta.get("config_hash") or stable_hash(run.meta))

    @cached(512)
    def png_bytes(row: int) -> bytes:
        image = run.image(row).convert("RGB")
        if max(image.size) > MAX_SIDE:
            image.thumbnail((MAX_SIDE, MAX_SIDE))
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        return buffer.getvalue()

    def serve_image(row: int) -> Response:
        if not 0 <= row < run.n:
            abort(404)
        try:
            data = png_bytes(row)
        except Exception as exc:  # noqa: BLE001 - a missing source file is a 404, not a crash
            logger.warning("cannot load image of row %d: %s", row, exc)
            abort(404)
        response = Response(data, mimetype="image/png")
        response.headers["Cache-Control"] = "public, max-age=86400"
        response.set_etag(f"{identity}-{row}")
        return response.make_conditional(request)

    def reject(anything: str) -> None:
        # anything under /topoact/image/ that is not "<non-negative int>.png" (negative numbers,
        # names, paths) is a 404 here, instead of falling through to Dash's catch-all page route
        abort(404)

    server.add_url_rule(IMAGE_ROUTE, endpoint="topoact_image", view_func=serve_image)
    server.add_url_rule("/topoact/image/<path:anything>", endpoint="topoact_image_reject", view_func=reject)
