"""Session-wide test setup: one private embedded Ray, isolated from every other Ray on the machine.

Why each piece:
- `RAY_ADDRESS` is cleared and `RAY_TMPDIR` points at a short per-session folder before any test module
  imports Ray, so neither the `ray_local` fixture nor a driver a test starts (`stackray run`, or
  jobs/run_active.py in a subprocess) joins a cluster recorded in /tmp/ray/ray_current_cluster or in
  another session's folder. The folder name is short because Ray's UNIX socket paths under it must stay
  below 108 bytes.
- Ray 2.60 turns token authentication on for every new local cluster when RAY_AUTH_MODE is unset, and
  reads (or writes) ~/.ray/auth_token. The session pins token mode with a token file of its own instead,
  so the suite behaves the same whether ~/.ray/auth_token exists or not, never writes to the home
  folder, and subprocess drivers inherit the token they need to connect to the session's Ray.
- `ray_local` is the suite's one Ray fixture (2 CPUs, no dashboard, a small object store), shut down
  at the end of the session. Actors a test module leaves alive are killed after the module (with a
  warning naming them), so one module's leak cannot hold CPUs that the next module's actors wait for.
- The session folder (Ray's logs) is removed after a passing session and kept after a failing one.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

import pytest

from ray_session import kill_alive_actors, ray_temp_dir

# What a session must not inherit from the shell: a cluster to join, or someone else's auth settings.
_INHERITED = ("RAY_ADDRESS", "RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")
_session_dir: Path | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _session_dir
    for name in _INHERITED:
        os.environ.pop(name, None)
    _session_dir = Path(tempfile.mkdtemp(prefix=f"stackray-ray-{os.getpid()}-", dir="/tmp"))
    token = _session_dir / "auth_token"
    token.write_text(secrets.token_hex(32))
    token.chmod(0o600)
    os.environ.update(RAY_TMPDIR=str(_session_dir), RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(token))
    if "ray" in sys.modules:  # a plugin imported Ray already: make its cached config see the new mode
        from ray._raylet import Config

        Config.initialize("")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    ray = sys.modules.get("ray")  # never import Ray just to stop it
    if ray is not None and ray.is_initialized():
        ray.shutdown()
    if _session_dir is None:
        return
    if exitstatus == 0:
        shutil.rmtree(_session_dir, ignore_errors=True)
    else:
        session.config.get_terminal_writer().line(f"Ray's logs of this session are kept in {_session_dir}")


@pytest.fixture(scope="session")
def ray_local():
    """One embedded local Ray for the whole session (2 CPUs, no dashboard, a small object store)."""
    import ray

    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, object_store_memory=200 * 2**20, log_to_driver=False,
                 _temp_dir=ray_temp_dir())
    yield ray
    ray.shutdown()


@pytest.fixture(autouse=True, scope="module")
def _kill_leaked_actors(request: pytest.FixtureRequest):
    """After each module that used Ray, kill the actors it left alive and say which they were."""
    yield
    ray = sys.modules.get("ray")
    if ray is None or not ray.is_initialized():
        return
    killed, unreachable = kill_alive_actors(ray)
    if killed or unreachable:
        warnings.warn(f"{request.module.__name__} left actors alive: killed {killed}"
                      + (f"; no handle to kill {unreachable}" if unreachable else ""), stacklevel=1)


@pytest.fixture(scope="session")
def gguf_base():
    """The bundled SmolLM2 loaded the ordinary way, by transformers from the GGUF file itself (about 35 s), not
    through stackray's converted copy (stackray.scoring.models.hf_folder): the independent reference that the
    conversion and the LoRA adapter are checked against. (model in eval mode, tokenizer)"""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from stackray.scoring.models import resolve_model

    source = resolve_model(None)
    model = AutoModelForCausalLM.from_pretrained(source.location, gguf_file=source.gguf_file).eval()
    return model, AutoTokenizer.from_pretrained(source.location, gguf_file=source.gguf_file)
