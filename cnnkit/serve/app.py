"""The explorer's HTTP routes (Starlette). Routes only: each one checks its request
(:mod:`cnnkit.serve.validate`), runs the work in a worker thread
(:mod:`cnnkit.serve.inference`) and answers JSON; errors are ``{"error": "..."}`` with a 4xx
(5xx only for a fault of the server itself).

======  ======================  =====================================================
GET     ``/healthz``            ``{"status": "ok"}``
GET     ``/api/info``           models, samples, kernels, borders, limits, optional parts
POST    ``/api/predict``        ``{"pixels": 28x28}`` (an MNIST digit as is), ``{"drawing":
                                HxW}`` (strokes, made MNIST-style) or multipart ``file``
                                -> ``{"predicted", "probabilities", "activations", ...}``
GET     ``/api/mnist/{i}``      MNIST test digit ``i`` and its label (when the files are here)
GET     ``/api/samples/{name}`` a scikit-image sample as PNG (as filtered)
POST    ``/api/images``         multipart ``file`` -> ``{"id", "width", "height"}``
GET     ``/api/images/{id}``    an uploaded picture as PNG (as filtered)
POST    ``/api/filter``         ``{"image", "kernel", "border", "mode"}`` -> result PNG, separability
POST    ``/api/filter/probe``   the same and ``"y", "x"`` -> that pixel's patch, products and sum
POST    ``/api/frames``         animation frame data and the receptive field of one layer
GET     ``/api/models``         the servable models; POST: multipart ``file`` (.safetensors)
GET     ``/api/summary``        ``?model=ID``: the summary table with receptive fields
POST    ``/api/layer``          ``{"model", "pixels", "layer"}`` -> that layer's output
POST    ``/api/explain``        ``{"model", "pixels", "method", "target", "layer"}`` -> a map
======  ======================  =====================================================
"""
from __future__ import annotations

import functools
import hashlib
import logging
import os
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from . import inference
from .images import decode_upload, fit_within, png_bytes, png_data_url
from .middleware import BodyLimit
from .models import ModelRegistry
from .state import Explorer
from .validate import RequestError, choice, flag, integer, number_grid, optional, parse_json

__all__ = ["create_app", "DEFAULT_MAX_BODY", "DEFAULT_MAX_PIXELS", "WORK_SIDE", "MAX_DRAWING_SIDE"]

STATIC = Path(__file__).with_name("static")
DEFAULT_MAX_BODY = 10 * 2 ** 20
#: Uploaded pictures may declare at most this many pixels (decompression bombs are refused unread).
DEFAULT_MAX_PIXELS = 25_000_000
#: Pictures on the Kernels page are filtered at most this large (longer side, in pixels).
WORK_SIDE = 1024
MAX_DRAWING_SIDE = 512
FRAME_OPS = ("conv2d", "conv_transpose2d", "max_pool2d", "avg_pool2d",
             "conv1d", "conv_transpose1d", "max_pool1d", "avg_pool1d", "separable")
FRAME_OPTIONS = {"input": "input_size", "kernel": "kernel_size", "stride": "stride", "padding": "padding",
                 "dilation": "dilation", "output_padding": "output_padding", "seed": "seed",
                 "ceil_mode": "ceil_mode", "view": "view", "backward": "backward"}
log = logging.getLogger("cnnkit.serve")


def _error(message: str, status: int) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def api(handler):
    """Route wrapper: ``RequestError`` and cnnkit's own ``ValueError``/``TypeError`` become a
    4xx ``{"error"}``, a missing optional package (``ImportError``) a 501; anything else a logged 500."""
    @functools.wraps(handler)
    async def route(request: Request):
        try:
            return await handler(request)
        except RequestError as exc:
            return _error(exc.message, exc.status)
        except HTTPException:
            raise
        except ImportError as exc:  # MissingDependency, or an optional package's own message
            return _error(str(exc), 501)
        except (ValueError, TypeError) as exc:
            return _error(str(exc), 400)
        except Exception:  # a fault of the server: say so, keep serving
            log.exception("cnnkit serve: %s %s failed", request.method, request.url.path)
            return _error(f"internal error while answering {request.url.path} (see the server's log)", 500)
    return route


async def _json(request: Request) -> dict:
    kind = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if kind not in ("application/json", ""):
        raise RequestError(f"expected Content-Type application/json (curl: -H 'content-type: application/json'), "
                           f"got {kind}", 415)
    return parse_json(await request.body())


async def _upload(request: Request, field: str = "file") -> tuple[bytes, str, dict]:
    """The bytes and file name of the multipart field ``field``, and the other form fields."""
    kind = request.headers.get("content-type", "")
    if not kind.lower().startswith("multipart/form-data"):
        raise RequestError(f"expected a multipart/form-data upload with a '{field}' field, "
                           f"got Content-Type {kind or 'none'}", 415)
    limit = _state(request).max_body
    async with request.form(max_files=2, max_fields=16, max_part_size=limit) as form:
        item = form.get(field)
        if item is None or isinstance(item, str):
            raise RequestError(f"the upload has no file field '{field}'")
        data = await item.read()
        others = {k: v for k, v in form.items() if isinstance(v, str)}
        return data, item.filename or field, others


def _state(request: Request) -> Explorer:
    return request.app.state.explorer


# ------------------------------------------------------------------ routes
async def index(request: Request):
    return FileResponse(STATIC / "index.html", headers={"cache-control": "no-cache"})


async def healthz(request: Request):
    return JSONResponse({"status": "ok"})


@api
async def info(request: Request):
    from ..filtering import BORDERS
    from ..kernels import KERNELS, get_kernel
    from ..samples import SAMPLES
    st = _state(request)
    kernels = [{"name": name, "description": k.description, "seed_label": k.seed_label,
                "matrix": k.matrix.tolist()} for name, k in KERNELS.items()]
    kernels += [{"name": name, "description": desc, "seed_label": None, "matrix": get_kernel(name).tolist()}
                for name, desc in (("gaussian:5", "5x5 Gaussian blur (OpenCV's sigma)"), ("box:5", "5x5 box blur"))]
    return JSONResponse({
        "model": st.models.loaded.describe(), "models": st.models.catalogue(),
        "samples": [{"name": n, "description": d} for n, d in SAMPLES.items()],
        "kernels": kernels, "borders": list(BORDERS), "frame_ops": list(FRAME_OPS),
        "features": inference.feature_status(), "mnist": st.mnist_available(),
        "limits": {"max_body_bytes": st.max_body, "max_image_pixels": st.max_pixels, "work_side": WORK_SIDE,
                   "max_drawing_side": MAX_DRAWING_SIDE, "decimals": inference.DECIMALS},
    })


def _pixels(body: dict) -> "np.ndarray":
    return number_grid(body.get("pixels"), "pixels", shape=(28, 28), lo=0, hi=255)


@api
async def predict(request: Request):
    st = _state(request)
    if request.headers.get("content-type", "").lower().startswith("multipart/"):
        data, name, fields = await _upload(request)
        picture = await run_in_threadpool(decode_upload, data, name, st.max_pixels, "L")
        digit = await run_in_threadpool(inference.digit_from_picture, picture)
        entry, activations = st.models.get(fields.get("model")), fields.get("activations", "true") != "false"
    else:
        body = await _json(request)
        unknown = sorted(set(body) - {"pixels", "drawing", "model", "activations"})
        if unknown:
            raise RequestError(f"unknown fields {unknown}; send 'pixels' (28x28) or 'drawing' (HxW)")
        if ("pixels" in body) == ("drawing" in body):
            raise RequestError("send exactly one of 'pixels' (an MNIST digit, 28x28, 0..255, white ink on black) "
                               "or 'drawing' (strokes, HxW, 0..255, white on black)")
        if "pixels" in body:
            digit = _pixels(body)
        else:
            drawing = number_grid(body["drawing"], "drawing", max_side=MAX_DRAWING_SIDE, lo=0, hi=255)
            digit = await run_in_threadpool(inference.digit_from_drawing, drawing)
        entry, activations = st.models.get(body.get("model")), flag(optional(body, "activations", True), "activations")
    return JSONResponse(await run_in_threadpool(inference.predict, entry, digit, activations))


@api
async def mnist_digit(request: Request):
    images, labels = await run_in_threadpool(_state(request).mnist)
    index = request.path_params["index"]
    if not 0 <= index < len(images):
        raise RequestError(f"MNIST test digit index must be in 0..{len(images) - 1}, got {index}", 404)
    return JSONResponse({"index": index, "label": int(labels[index]), "pixels": images[index].tolist()})


def _png(image) -> Response:
    return Response(png_bytes(image), media_type="image/png", headers={"cache-control": "max-age=3600"})


@api
async def sample_png(request: Request):
    return _png(await run_in_threadpool(_state(request).picture, "sample:" + request.path_params["name"]))


@api
async def image_png(request: Request):
    return _png(await run_in_threadpool(_state(request).picture, "upload:" + request.path_params["key"]))


@api
async def upload_image(request: Request):
    st = _state(request)
    data, name, _ = await _upload(request)
    picture = await run_in_threadpool(decode_upload, data, name, st.max_pixels)
    key = hashlib.sha256(data).hexdigest()[:16]
    work = await run_in_threadpool(fit_within, picture, st.work_side)
    st.images.put(key, work)
    return JSONResponse({"id": f"upload:{key}", "name": name, "width": int(work.shape[1]),
                         "height": int(work.shape[0]), "original": [int(picture.shape[1]), int(picture.shape[0])],
                         "color": work.ndim == 3})


def _kernel(value) -> "np.ndarray":
    from ..kernels import get_kernel
    if isinstance(value, str):
        return get_kernel(value)
    return number_grid(value, "kernel", max_side=15)


async def _filter_request(request: Request):
    """The image (as filtered), kernel, border, mode of a Kernels-page request, and the rest of its body."""
    from ..filtering import BORDERS
    from ..io.image import rgb_to_gray
    body = await _json(request)
    source = body.get("image", "sample:camera")
    if not isinstance(source, str):
        raise RequestError(f"image must be 'sample:NAME' or an uploaded id 'upload:...', got {source!r:.40}")
    kernel = _kernel(body.get("kernel", "identity"))
    border = choice(optional(body, "border", "zero"), "border", BORDERS)
    mode = choice(optional(body, "mode", "correlate"), "mode", ("correlate", "convolve"))
    grey = flag(optional(body, "grey", False), "grey")
    image = await run_in_threadpool(_state(request).picture, source)
    if grey and image.ndim == 3:
        image = rgb_to_gray(image)
    return image, kernel, border, mode, source, body


@api
async def filter_route(request: Request):
    image, kernel, border, mode, source, _ = await _filter_request(request)
    out = await run_in_threadpool(inference.filter_picture, image, kernel, border, mode)
    out["result_png"] = await run_in_threadpool(png_data_url, out.pop("result"))
    out.update(image=source, border=border, mode=mode, shape=list(image.shape))
    return JSONResponse(out)


@api
async def probe_route(request: Request):
    image, kernel, border, mode, _, body = await _filter_request(request)
    y, x = integer(body.get("y"), "y", 0, 10 ** 5), integer(body.get("x"), "x", 0, 10 ** 5)
    return JSONResponse(await run_in_threadpool(inference.filter_probe, image, kernel, border, mode, y, x))


def _frame_value(key: str, value):
    if key == "padding" and isinstance(value, list) and value and all(isinstance(p, list) for p in value):
        return tuple(tuple(p) for p in value)
    if key == "seed":
        return integer(value, "seed", 0, 10 ** 6)
    return tuple(value) if isinstance(value, list) else value


@api
async def frames(request: Request):
    body = await _json(request)
    op = choice(body.get("op", "conv2d"), "op", FRAME_OPS)
    unknown = sorted(set(body) - set(FRAME_OPTIONS) - {"op"})
    if unknown:
        raise RequestError(f"unknown fields {unknown}; the options are {', '.join(FRAME_OPTIONS)}")
    options = {FRAME_OPTIONS[k]: _frame_value(k, v) for k, v in body.items() if k != "op" and v is not None}
    return JSONResponse(await run_in_threadpool(inference.animation_frames, op, options))


@api
async def models_route(request: Request):
    st = _state(request)
    if request.method == "GET":
        return JSONResponse({"models": st.models.catalogue()})
    data, name, fields = await _upload(request)
    entry = await run_in_threadpool(st.models.add_upload, data, name, fields.get("architecture") or None)
    return JSONResponse(entry.describe())


@api
async def summary_route(request: Request):
    entry = _state(request).models.get(request.query_params.get("model"))
    return JSONResponse(await run_in_threadpool(inference.model_table, entry))


@api
async def layer_route(request: Request):
    body = await _json(request)
    entry = _state(request).models.get(body.get("model"))
    layer = body.get("layer")
    if not isinstance(layer, str):
        raise RequestError(f"layer must be a layer name (a row of the table), got {layer!r:.40}")
    return JSONResponse(await run_in_threadpool(inference.layer_output, entry, _pixels(body), layer))


@api
async def explain_route(request: Request):
    body = await _json(request)
    entry = _state(request).models.get(body.get("model"))
    method = choice(optional(body, "method", "grad_cam"), "method", inference.EXPLAIN_METHODS)
    target = body.get("target")
    target = None if target is None else integer(target, "target", 0, 10 ** 6)
    layer = body.get("layer")
    if layer is not None and not isinstance(layer, str):
        raise RequestError(f"layer must be a convolution layer's name, got {layer!r:.40}")
    return JSONResponse(await run_in_threadpool(inference.explanation, entry, _pixels(body), method, target, layer))


async def http_error(request: Request, exc: HTTPException):
    return _error(str(exc.detail), exc.status_code)


# --------------------------------------------------------------------- app
def create_app(model: str = "pretrained", *, model_name: str | None = None, max_body_bytes: int = DEFAULT_MAX_BODY,
               max_image_pixels: int = DEFAULT_MAX_PIXELS, replicas: int | None = None,
               data_dir: str | os.PathLike | None = None) -> Starlette:
    """The explorer as an ASGI app (serve it with uvicorn; test it with Starlette's TestClient).

    ``model``: ``"pretrained"`` (the bundled LeNet-5), a zoo name or a ``.safetensors``
    checkpoint (``model_name``: its zoo architecture, when neither its metadata nor its file
    name says). ``max_body_bytes``: larger request bodies get 413. ``replicas``: copies of
    each model, so that this many requests compute at once (default: the CPU count, at most 4).
    ``data_dir``: where MNIST's test files are looked for (default ``$CNNKIT_DATA``, ...).
    """
    if not isinstance(max_body_bytes, int) or max_body_bytes < 1024:
        raise ValueError(f"max_body_bytes must be an int >= 1024, got {max_body_bytes!r}")
    replicas = replicas or max(1, min(os.cpu_count() or 1, 4))
    registry = ModelRegistry(model, model_name, replicas)
    routes = [
        Route("/", index),
        Route("/healthz", healthz),
        Route("/api/info", info),
        Route("/api/predict", predict, methods=["POST"]),
        Route("/api/mnist/{index:int}", mnist_digit),
        Route("/api/samples/{name}", sample_png),
        Route("/api/images", upload_image, methods=["POST"]),
        Route("/api/images/{key}", image_png),
        Route("/api/filter", filter_route, methods=["POST"]),
        Route("/api/filter/probe", probe_route, methods=["POST"]),
        Route("/api/frames", frames, methods=["POST"]),
        Route("/api/models", models_route, methods=["GET", "POST"]),
        Route("/api/summary", summary_route),
        Route("/api/layer", layer_route, methods=["POST"]),
        Route("/api/explain", explain_route, methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(routes=routes, middleware=[Middleware(BodyLimit, max_bytes=max_body_bytes)],
                    exception_handlers={HTTPException: http_error})
    app.state.explorer = Explorer(registry, max_body_bytes, max_image_pixels, data_dir, WORK_SIDE)
    return app
