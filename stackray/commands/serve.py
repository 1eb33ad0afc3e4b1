"""`stackray serve RUN_DIR [RUN_DIR ...]`: serve finished runs over HTTP (OpenAI-compatible, plus /v1/score) on Ray Serve.

Binds 127.0.0.1 unless --host says otherwise, and refuses a host reachable from other machines without a
token (--token-file): Ray's cluster token does not protect Serve's HTTP port. Everything is checked before
Ray starts: the run directories, the token, the flags. Blocks until Ctrl-C or SIGTERM, then shuts Serve
(and an embedded Ray) down cleanly.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

REQUEST_TIMEOUT_S = 600.0  # no request holds a connection longer (a client that never sends its body included)



def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("serve", help="serve finished runs over HTTP (OpenAI-compatible and /v1/score)",
                              description=__doc__.split("\n\n")[0].split(": ", 1)[1])
    p.add_argument("run_dirs", nargs="+", type=Path, metavar="RUN_DIR", help="a finished run directory (one model id each)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; others need --token-file)")
    p.add_argument("--port", type=int, default=8000, help="HTTP port (default 8000)")
    p.add_argument("--token-file", type=Path, metavar="FILE", help="a file holding the bearer token clients must send")
    p.add_argument("--replicas", type=int, default=1, help="model replicas (default 1)")
    p.add_argument("--num-cpus", type=float, default=1.0, help="Ray CPUs (and torch threads) per model replica")
    p.add_argument("--num-gpus", type=float, default=0.0, help="GPUs per model replica (default 0: CPU)")
    p.add_argument("--backend", choices=("auto", "transformers", "vllm"), default="auto",
                   help="model backend of a replica (default auto: vLLM on a GPU where installed, else transformers)")
    p.add_argument("--max-batch-size", type=int, default=8, help="/v1/score requests batched together (1: no batching)")
    p.set_defaults(func=run)


def config_from_args(args: argparse.Namespace):
    from stackray.serve.config import serve_config

    raw = {"run_dirs": [str(d) for d in args.run_dirs], "host": args.host, "port": args.port,
           "token_file": None if args.token_file is None else str(args.token_file), "replicas": args.replicas,
           "num_cpus": args.num_cpus, "num_gpus": args.num_gpus, "backend": args.backend,
           "max_batch_size": args.max_batch_size}
    config = serve_config(raw, source="stackray serve")
    config.check_exposure()
    return config


def run(args: argparse.Namespace) -> int:
    import ray

    from stackray.errors import install_signal_handlers
    from stackray.serve.app import build_from_config
    from stackray.serve.engine import resolve_backend

    config = config_from_args(args)
    application = build_from_config(config)  # reads and checks every run directory before Ray starts
    if not os.environ.get("RAY_ADDRESS"):  # a Ray on this machine: the replicas run here, so must their backend
        resolve_backend(config.backend, config.num_gpus)  # ValueError: one line, before Ray starts
    started = not ray.is_initialized()
    try:
        if started:
            ray.init(include_dashboard=False, log_to_driver=False)
            install_signal_handlers()  # Ray's core worker took SIGTERM over: take it back
        start_serving(application, config)
        token = " (bearer token required)" if config.bearer_token() else ""
        print(f"serving {', '.join(str(d) for d in config.run_dirs)} at http://{config.host}:{config.port}/v1{token}; "
              f"Ctrl-C to stop", flush=True)
        while True:
            time.sleep(1.0)
    except KeyboardInterrupt as exc:
        from stackray.errors import as_interrupted

        raise as_interrupted(exc, "stopped serving") from None
    finally:
        _shutdown(started)


def start_serving(application, config, *, name: str = "stackray") -> None:
    """serve.start on the config's host/port, then the application (serve.run returns once it is running)."""
    from ray import serve

    serve.start(http_options={"host": config.host, "port": config.port, "request_timeout_s": REQUEST_TIMEOUT_S})
    serve.run(application, name=name, route_prefix="/", blocking=False)


def _shutdown(started_ray: bool) -> None:
    import ray
    from ray import serve

    if ray.is_initialized():
        try:
            serve.shutdown()
        finally:
            if started_ray:
                ray.shutdown()
