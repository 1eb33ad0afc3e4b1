"""The real two-node Ray cluster of `cluster/local_cluster.sh`: start it, submit jobs, stop it.

Why a real cluster and not `ray.init()`: `ray job submit` goes through the dashboard's job server, uploads
the working dir as a runtime-env package, starts the entrypoint under a JobSupervisor on the head node and
makes `ray.init()` inside it *connect* (RAY_ADDRESS) instead of starting its own Ray. None of that runs in the
embedded mode the other tests use, and the two raylets make tasks, actors and objects cross node boundaries.

The cluster is started once per module (about 25 s on 2 cores) on a free port range and a private state dir,
and is ALWAYS stopped by the fixture's finaliser, by PID (never `ray stop`, which would kill other people's
Ray sessions on the same machine).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "cluster" / "local_cluster.sh"
RAY_CLI = Path(sys.executable).parent / "ray"
START_TIMEOUT_S = 240
JOB_TIMEOUT_S = 600  # the smoke run on a loaded 2-core CI machine; a hang fails with the job's logs
# What `--working-dir .` must not upload from a checkout (Ray also skips .gitignore'd paths by itself).
# The smoke test uploads a `git ls-files` snapshot that has none of them; it passes the list anyway.
UPLOAD_EXCLUDES = [".git", ".venv", ".venv-vllm", ".cache", "runs", ".hypothesis", ".pytest_cache",
                   "**/__pycache__"]
# Ports local_cluster.sh derives from its base (see the script): 0-2 head services, 10-15 head node,
# 20-25 worker node, 100-299 worker processes.
PORT_OFFSETS = [0, 1, 2, *range(10, 16), *range(20, 26), *range(100, 300)]


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def _free_port_base() -> int:
    """A base port whose whole derived range is free, so the test never collides with a running cluster."""
    for base in range(27300, 40000, 400):
        if all(_port_free(base + o) for o in PORT_OFFSETS):
            return base
    raise RuntimeError("no free port range for the test cluster in 27300-40000")


class LocalCluster:
    """Handle on one started `local_cluster.sh` cluster: its env, addresses and a `ray` CLI runner."""

    def __init__(self, state_dir: Path, base: int) -> None:
        self.state_dir = state_dir
        self.gcs_address = f"127.0.0.1:{base}"
        self.dashboard_url = f"http://127.0.0.1:{base + 1}"
        # No RAY_ADDRESS / RAY_AUTH_* from the caller: the embedded run must start its own Ray.
        self.plain_env = {k: v for k, v in os.environ.items()
                          if not k.startswith(("RAY_ADDRESS", "RAY_API_SERVER", "RAY_AUTH"))}
        self.token_path = state_dir / "auth_token"  # the script's cluster-private token
        self.env = {**self.plain_env, "RAY": str(RAY_CLI), "STACKRAY_CLUSTER_DIR": str(state_dir),
                    "STACKRAY_CLUSTER_PORT": str(base), "START_TIMEOUT": str(START_TIMEOUT_S // 2),
                    "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(self.token_path)}

    def script(self, command: str, timeout: float = START_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(SCRIPT), command], env=self.env, capture_output=True, text=True,
                              timeout=timeout, check=False)

    def ray(self, *args: str, cwd: Path = REPO, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(RAY_CLI), *args], env=self.env, cwd=cwd, capture_output=True, text=True,
                              timeout=timeout, check=False)

    def submit(self, entrypoint: list[str], working_dir: Path, excludes: list[str] | None = None,
               env_vars: dict[str, str] | None = None) -> str:
        """`ray job submit --no-wait`; returns the submission id (fails the test with the CLI's output)."""
        sub_id = f"stackray-test-{uuid.uuid4().hex[:12]}"
        args = ["job", "submit", "--address", self.dashboard_url, "--submission-id", sub_id,
                "--working-dir", ".", "--no-wait"]
        runtime_env: dict[str, Any] = {}
        if excludes:
            runtime_env["excludes"] = excludes
        if env_vars:
            runtime_env["env_vars"] = env_vars
        if runtime_env:
            args += ["--runtime-env-json", json.dumps(runtime_env)]
        proc = self.ray(*args, "--", *entrypoint, cwd=working_dir)
        assert proc.returncode == 0, f"ray job submit failed:\n{proc.stdout}\n{proc.stderr}"
        return sub_id

    def wait(self, sub_id: str, timeout: float = JOB_TIMEOUT_S) -> tuple[str, str]:
        """Poll the job server until the job is terminal; returns (status, logs)."""
        from ray.job_submission import JobStatus, JobSubmissionClient

        token = self.token_path.read_text().strip()
        client = JobSubmissionClient(self.dashboard_url, headers={"Authorization": f"Bearer {token}"})
        deadline = time.monotonic() + timeout
        status = client.get_job_status(sub_id)
        while not status.is_terminal():
            if time.monotonic() > deadline:
                client.stop_job(sub_id)
                pytest.fail(f"job {sub_id} still {status} after {timeout:.0f}s; its logs:\n"
                            f"{client.get_job_logs(sub_id)[-8000:]}")
            time.sleep(0.5)
            status = client.get_job_status(sub_id)
        return str(status.value if isinstance(status, JobStatus) else status), client.get_job_logs(sub_id)


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    assert RAY_CLI.exists(), f"no ray CLI next to {sys.executable}: ray is not installed in this environment"
    # Short path: Ray's unix sockets live under it and must stay < 108 bytes.
    state_dir = Path(tempfile.mkdtemp(prefix="srclu-", dir="/tmp"))
    lc = LocalCluster(state_dir, _free_port_base())
    try:
        started = lc.script("start")
        if started.returncode != 0:
            pytest.fail(f"local_cluster.sh start failed (rc {started.returncode}):\n"
                        f"{started.stdout}\n{started.stderr}")
        yield lc
    finally:
        stopped = lc.script("stop", timeout=120)
        assert stopped.returncode == 0, f"local_cluster.sh stop failed:\n{stopped.stdout}\n{stopped.stderr}"
        shutil.rmtree(state_dir, ignore_errors=True)


def test_status_lists_a_head_and_a_worker_node(cluster: LocalCluster) -> None:
    status = cluster.script("status", timeout=120)
    assert status.returncode == 0, f"status says the cluster is down:\n{status.stdout}\n{status.stderr}"
    assert "alive nodes: 2" in status.stdout
    listed = cluster.ray("list", "nodes", "--address", cluster.gcs_address, "--format", "json")
    assert listed.returncode == 0, listed.stderr
    nodes = [n for n in json.loads(listed.stdout) if n["state"] == "ALIVE"]
    assert len(nodes) == 2
    head = [n for n in nodes if n["is_head_node"]]
    worker = [n for n in nodes if not n["is_head_node"]]
    assert len(head) == 1 and len(worker) == 1
    assert head[0]["resources_total"].get("head") == 1 and "worker" not in head[0]["resources_total"]
    assert worker[0]["resources_total"].get("worker") == 1 and "head" not in worker[0]["resources_total"]
    for node in nodes:  # each node has its own small object store (~200 MB), not 30% of the machine
        assert _bytes(node["resources_total"]["object_store_memory"]) <= 256 * 2**20


def _bytes(value: float | str) -> float:
    """`ray list nodes --format json` prints memory as "190.735 MiB"; older versions as a number."""
    if isinstance(value, (int, float)):
        return float(value)
    number, unit = value.split()
    return float(number) * {"B": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40}[unit]


def test_the_job_server_refuses_a_client_without_the_token(cluster: LocalCluster) -> None:
    # Ray's GCS and raylets listen on all interfaces (Ray refuses a loopback node IP), so the
    # cluster-private token is what keeps other clients out.
    proc = subprocess.run([str(RAY_CLI), "job", "list", "--address", cluster.dashboard_url],
                          env={**cluster.plain_env, "RAY_AUTH_MODE": "disabled"}, capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode != 0
    assert "token" in (proc.stdout + proc.stderr).lower()
    allowed = cluster.ray("job", "list", "--address", cluster.dashboard_url)
    assert allowed.returncode == 0, allowed.stderr


PROBE = """\
import json, ray
ray.init()  # RAY_ADDRESS is set by the job server: this connects, it does not start a Ray
@ray.remote(num_cpus=1)
def double(x):  # x is (node id of the producer, number): the producer's output crosses to this node
    return ray.get_runtime_context().get_node_id(), x[1] * 2
on_head = double.options(resources={"head": 1}).remote(("driver", 21))
on_worker = double.options(resources={"worker": 1}).remote(on_head)  # an ObjectRef made on the head
(h, _), (w, v) = ray.get(on_head), ray.get(on_worker)
print("PROBE " + json.dumps({"head": h, "worker": w, "value": v, "cpus": ray.cluster_resources()["CPU"]}))
"""


def test_a_submitted_job_spans_both_nodes(cluster: LocalCluster, tmp_path: Path) -> None:
    (tmp_path / "probe.py").write_text(PROBE)
    sub_id = cluster.submit(["python", "probe.py"], working_dir=tmp_path)
    status, logs = cluster.wait(sub_id, timeout=300)
    assert status == "SUCCEEDED", f"probe job {status}; its logs:\n{logs[-8000:]}"
    line = next((ln for ln in logs.splitlines() if ln.startswith("PROBE ")), None)
    assert line is not None, f"the probe printed nothing; logs:\n{logs[-8000:]}"
    probe = json.loads(line[len("PROBE "):])
    assert probe["head"] != probe["worker"], "both tasks ran on one node: the cluster is not two nodes"
    assert probe["value"] == 84  # 21*2 on the head, *2 again on the worker
    assert probe["cpus"] == 2  # 1 + 1: the job saw the cluster, not a fresh local Ray


# Summary keys that legitimately differ between two runs of one config: where the files went, and how
# many features came from the cache (each run gets its own empty cache, so both are 0 hits).
_VOLATILE = {"curve", "run_dir", "features"}


def _assert_same(a: Any, b: Any, where: str = "summary") -> None:
    if isinstance(a, float) or isinstance(b, float):
        assert isinstance(a, (int, float)) and isinstance(b, (int, float)), f"{where}: {a!r} vs {b!r}"
        assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9) or (math.isnan(a) and math.isnan(b)), \
            f"{where}: cluster {a!r} != embedded {b!r}"
    elif isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), f"{where}: keys differ: {sorted(a.keys() ^ b.keys())}"
        for k in a:
            _assert_same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b), f"{where}: lengths {len(a)} vs {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same(x, y, f"{where}[{i}]")
    else:
        assert a == b, f"{where}: cluster {a!r} != embedded {b!r}"


def _snapshot(dest: Path) -> Path:
    """Copy the checkout's files (tracked + untracked-not-ignored, as `git ls-files` lists them) to dest.

    Why: `ray job submit --working-dir .` hashes the directory, then zips it; in a checkout that other
    people edit meanwhile, the two can disagree and the job fails with "Failed to download runtime_env
    file package" (seen here). A frozen copy is what a clean CI clone is anyway."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for rel in filter(None, listed):
        src = REPO / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    return dest


RUN_ACTIVE = REPO / "jobs" / "run_active.py"
SMOKE = REPO / "configs" / "smoke.yaml"


@pytest.mark.timeout(2 * JOB_TIMEOUT_S + 300)  # the cluster job and the embedded run (side by side)
def test_smoke_job_on_the_cluster_matches_the_embedded_run(cluster: LocalCluster, tmp_path: Path) -> None:
    for path in (RUN_ACTIVE, SMOKE):
        assert path.is_file(), f"{path.relative_to(REPO)} is missing: the smoke job has nothing to run"
    from safetensors.numpy import load_file

    repo = _snapshot(tmp_path / "repo")
    cluster_dir, embedded_dir = tmp_path / "cluster_run", tmp_path / "embedded_run"
    entry = ["python", "jobs/run_active.py", "configs/smoke.yaml", "--run-dir"]

    # Each run scores with its own empty feature cache, so the cluster's scorers really run (on the
    # cluster's nodes) instead of reading what the other run cached. The same config on an embedded Ray
    # (no RAY_ADDRESS: ray.init() starts its own local instance) runs meanwhile: the two share nothing but
    # the checkout snapshot, and overlapping them keeps the job's upload and start-up waits off the clock.
    env = {**cluster.plain_env, "STACKRAY_CACHE": str(tmp_path / "cache_embedded")}
    with open(tmp_path / "embedded.out", "w+") as out, open(tmp_path / "embedded.err", "w+") as err:
        embedded = subprocess.Popen([sys.executable, *entry[1:], str(embedded_dir)], cwd=repo, env=env,
                                    stdout=out, stderr=err, text=True)
        try:
            sub_id = cluster.submit([*entry, str(cluster_dir)], working_dir=repo, excludes=UPLOAD_EXCLUDES,
                                    env_vars={"STACKRAY_CACHE": str(tmp_path / "cache_cluster")})
            status, logs = cluster.wait(sub_id)
            rc = embedded.wait(timeout=JOB_TIMEOUT_S)
        finally:
            if embedded.poll() is None:
                embedded.kill()
        out.seek(0), err.seek(0)
        assert rc == 0, f"embedded run failed:\n{out.read()[-4000:]}\n{err.read()[-8000:]}"
    assert status == "SUCCEEDED", f"smoke job {sub_id} {status}; its logs:\n{logs[-8000:]}"
    assert (cluster_dir / "summary.json").exists(), f"the job wrote no summary.json; logs:\n{logs[-8000:]}"

    on_cluster = json.loads((cluster_dir / "summary.json").read_text())
    in_process = json.loads((embedded_dir / "summary.json").read_text())
    rows = {r["strategy"]: r for r in on_cluster["rows"]}
    assert rows and all("labels_used" in r and "accuracy" in r for r in rows.values()), on_cluster["rows"]
    _assert_same({k: v for k, v in on_cluster.items() if k not in _VOLATILE},
                 {k: v for k, v in in_process.items() if k not in _VOLATILE})
    # θ of every strategy (and the prior), as the runs saved them.
    heads_c = load_file(cluster_dir / on_cluster["heads_file"])
    heads_e = load_file(embedded_dir / in_process["heads_file"])
    assert heads_c.keys() == heads_e.keys()
    for name in heads_c:
        diff = float(abs(heads_c[name] - heads_e[name]).max()) if heads_c[name].size else 0.0
        assert diff <= 1e-9, f"heads.safetensors[{name}]: cluster and embedded differ by {diff:.3g}"
