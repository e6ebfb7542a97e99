"""Flask routes of the app: run images by row index.

``GET /topoact/image/<row>.png`` serves row ``row`` of the run as a PNG (longest side at most
``MAX_SIDE`` px, never upscaled); ``GET /topoact/thumb/<row>.jpg`` serves it as a small JPEG
thumbnail (longest side ``THUMB_SIDE`` px, quality 85: a few hundred bytes to a few kB, what
exemplar grids and hover cards show). Only an integer row is parsed from the request (Flask's
``int`` converter: no sign, no path); rows outside ``[0, run.n)`` are 404, so only images the
run indexed are ever served. Nothing from the request is ever used as a file path. Responses
carry ``Cache-Control: public, max-age=86400, immutable`` and an ETag (the run identity plus
the row and the size), so the browser reuses them, and recently served images are kept in
memory (the app's one LRU helper, keyed by row).
"""
from __future__ import annotations

import base64
import io
import logging
from typing import TYPE_CHECKING, Callable

from flask import Response, abort, request

if TYPE_CHECKING:
    from flask import Flask

    from topoact.store import Run

logger = logging.getLogger(__name__)

IMAGE_ROUTE = "/topoact/image/<int:row>.png"
THUMB_ROUTE = "/topoact/thumb/<int:row>.jpg"
MAX_SIDE = 256
THUMB_SIDE = 96


def image_url(row: int) -> str:
    """The URL of row ``row``'s image on the image route."""
    return f"/topoact/image/{int(row)}.png"


def thumb_url(row: int) -> str:
    """The URL of row ``row``'s small JPEG thumbnail (exemplar grids, hover cards)."""
    return f"/topoact/thumb/{int(row)}.jpg"


def encode_image(run: Run, row: int, side: int, fmt: str) -> bytes:
    """Row ``row``'s image as ``fmt`` ("PNG" or "JPEG", quality 85) bytes, its longest side at most
    ``side`` px (never upscaled)."""
    image = run.image(row).convert("RGB")
    if max(image.size) > side:
        image.thumbnail((side, side))
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **({"quality": 85} if fmt == "JPEG" else {}))
    return buffer.getvalue()


def thumb_data_url(jpeg: bytes) -> str:
    """A ``data:`` URL of thumbnail bytes: an exemplar page sends its images inside the callback's
    response (24 images of ~1 kB each) instead of making the browser ask the route 24 times."""
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")


def register_routes(server: Flask, run: Run, thumbnail: Callable[[int], bytes] | None = None) -> None:
    """Add the image route to the Flask ``server`` of a Dash app on ``run``.

    Parameters
    ----------
    server : flask.Flask
        ``app.server`` of the Dash app.
    run : topoact.store.Run
        The run whose images are served (``run.image(row)``).
    thumbnail : callable, optional
        ``row -> JPEG bytes`` of a thumbnail (the app context's cached
        :meth:`~topoact.app.context.AppContext.thumbnail`, shared with the exemplar pages);
        default: a cache of this route's own.
    """
    from topoact.app.context import cached
    from topoact.hashing import stable_hash

    # the ETag names the run by content (its collection settings), never by an object id
    identity = str(run.meta.get("config_hash") or stable_hash(run.meta))

    png_bytes = cached(512)(lambda row: encode_image(run, row, MAX_SIDE, "PNG"))
    jpeg_bytes = thumbnail or cached(4096)(lambda row: encode_image(run, row, THUMB_SIDE, "JPEG"))

    def respond(row: int, make, mimetype: str, tag: str) -> Response:
        if not 0 <= row < run.n:
            abort(404)
        try:
            data = make(row)
        except Exception as exc:  # noqa: BLE001 - a missing source file is a 404, not a crash
            logger.warning("cannot load image of row %d: %s", row, exc)
            abort(404)
        response = Response(data, mimetype=mimetype)
        response.headers["Cache-Control"] = "public, max-age=86400, immutable"
        response.set_etag(f"{identity}-{tag}-{row}")
        return response.make_conditional(request)

    def serve_image(row: int) -> Response:
        return respond(row, png_bytes, "image/png", "png")

    def serve_thumb(row: int) -> Response:
        return respond(row, jpeg_bytes, "image/jpeg", "thumb")

    def reject(anything: str) -> None:
        # anything under /topoact/image/ or /topoact/thumb/ that is not "<non-negative int>.png"
        # / ".jpg" (negative numbers, names, paths) is a 404 here, instead of falling through to
        # Dash's catch-all page route
        abort(404)

    server.add_url_rule(IMAGE_ROUTE, endpoint="topoact_image", view_func=serve_image)
    server.add_url_rule(THUMB_ROUTE, endpoint="topoact_thumb", view_func=serve_thumb)
    server.add_url_rule("/topoact/image/<path:anything>", endpoint="topoact_image_reject", view_func=reject)
    server.add_url_rule("/topoact/thumb/<path:anything>", endpoint="topoact_thumb_reject", view_func=reject)
