"""``cnnkit serve [--model CHECKPOINT] [--host 127.0.0.1] [--port 8000] [--no-browser]``: the CNN
explorer in the browser (:mod:`cnnkit.serve`), offline."""
from __future__ import annotations

import argparse
import sys

EXAMPLES = """examples:
  cnnkit serve                                      # the bundled LeNet-5, http://127.0.0.1:8000/
  cnnkit serve --model runs/lenet5/model.safetensors --port 8080 --no-browser
  cnnkit serve --model seed-kernels                 # a zoo model (random weights) on the Model page
"""


def _megabytes(text: str) -> int:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.01 <= value <= 4096:
        raise argparse.ArgumentTypeError(f"--max-body-mb must be a number of MiB in 0.01..4096, got {text!r}")
    return int(value * 2 ** 20)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "serve", help="the CNN explorer in the browser: draw, kernels, arithmetic, model",
        description="Serve the explorer on HOST:PORT (127.0.0.1 unless told otherwise) and open it in the "
                    "browser. MODEL: `pretrained` (default, the bundled LeNet-5), a zoo name, or a "
                    ".safetensors checkpoint (never a .py file).",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="pretrained", metavar="CHECKPOINT",
                   help="`pretrained`, a zoo name or a .safetensors checkpoint (default: pretrained)")
    p.add_argument("--arch", default=None, metavar="NAME",
                   help="zoo architecture of the checkpoint when its metadata and file name do not say")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser")
    p.add_argument("--max-body-mb", type=_megabytes, default=None, metavar="MB",
                   help="largest request body accepted, in MiB (default 10)")
    p.add_argument("--data-dir", default=None, metavar="DIR",
                   help="folder with MNIST's test files, for the MNIST digits on the pages (default $CNNKIT_DATA)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..serve import create_app
    from ..serve.app import DEFAULT_MAX_BODY
    from ..serve.server import LOCAL_HOSTS, run as serve

    if not 0 <= args.port <= 65535:
        raise ValueError(f"--port must be in 0..65535, got {args.port}")
    app = create_app(args.model, model_name=args.arch, max_body_bytes=args.max_body_mb or DEFAULT_MAX_BODY,
                     data_dir=args.data_dir)

    def ready(url: str) -> None:
        if args.host not in LOCAL_HOSTS:
            print(f"warning: serving on {args.host}: other machines on the network can reach the explorer",
                  file=sys.stderr)
        print(f"cnnkit explorer on {url} (model: {app.state.explorer.models.loaded.title}); Ctrl-C stops it",
              flush=True)
        if not args.no_browser:
            import webbrowser
            webbrowser.open(url)

    try:
        serve(app, args.host, args.port, on_ready=ready)
    except KeyboardInterrupt:
        pass
    return 0
