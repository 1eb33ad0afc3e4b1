"""The real-cluster configs in cluster/ (KubeRay manifests, the Ray cluster launcher YAML, the Dockerfile).

They cannot be applied here (no Kubernetes, no cloud), so these tests check what breaks them in practice:
the wrong apiVersion/kind, a Ray version that differs from the one the submitters run, rayStartParams that
are not strings (KubeRay rejects them), a GPU group that requests no GPU or does not tell Ray about it, an
entrypoint naming a file the repository does not have, and a launcher YAML that Ray's own schema rejects.
"""

from __future__ import annotations

import importlib
import shlex
from pathlib import Path
from typing import Any

import ray
import yaml

REPO = Path(__file__).resolve().parents[2]
KUBERAY = REPO / "cluster" / "kuberay"


def _one(path: Path, kind: str) -> dict[str, Any]:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    assert len(docs) == 1, f"{path.name}: expected one document, got {len(docs)}"
    doc = docs[0]
    assert doc["apiVersion"] == "ray.io/v1", f"{path.name}: apiVersion {doc['apiVersion']!r}"
    assert doc["kind"] == kind, f"{path.name}: kind {doc['kind']!r}"
    return doc


def _check_cluster_spec(spec: dict[str, Any], where: str, want_cpu_group: bool = True) -> None:
    assert spec["rayVersion"] == ray.__version__, \
        f"{where}: rayVersion {spec['rayVersion']} but the installed ray is {ray.__version__}"
    groups = [spec["headGroupSpec"], *spec["workerGroupSpecs"]]
    for group in groups:
        for key, value in group.get("rayStartParams", {}).items():
            assert isinstance(value, str), f"{where}: rayStartParams.{key} must be a string, got {value!r}"
        for container in group["template"]["spec"]["containers"]:
            assert container["image"], f"{where}: a container without an image"
    workers = {g["groupName"]: g for g in spec["workerGroupSpecs"]}
    gpu = [g for g in workers.values()
           if any("nvidia.com/gpu" in c.get("resources", {}).get("limits", {})
                  for c in g["template"]["spec"]["containers"])]
    assert len(gpu) == 1, f"{where}: expected one GPU worker group, got {[g['groupName'] for g in gpu]}"
    limits = gpu[0]["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert int(limits["nvidia.com/gpu"]) >= 1
    assert gpu[0]["rayStartParams"].get("num-gpus") == str(limits["nvidia.com/gpu"]), \
        f"{where}: the GPU group's num-gpus rayStartParam must equal its nvidia.com/gpu limit"
    assert gpu[0]["minReplicas"] <= gpu[0]["replicas"] <= gpu[0]["maxReplicas"]
    if want_cpu_group:
        cpu = [g for g in workers.values() if g not in gpu]
        assert cpu, f"{where}: no CPU worker group"
        for g in cpu:
            assert "num-gpus" not in g["rayStartParams"]
    for group in groups:  # every pod mounts the shared run directory
        vols = {v["name"]: v for v in group["template"]["spec"].get("volumes", [])}
        mounts = {m["mountPath"]: m["name"] for c in group["template"]["spec"]["containers"]
                  for m in c.get("volumeMounts", [])}
        assert "/mnt/runs" in mounts, f"{where}: a group does not mount /mnt/runs"
        assert vols[mounts["/mnt/runs"]]["persistentVolumeClaim"]["claimName"] == "stackray-runs"


def test_raycluster_has_head_cpu_and_gpu_groups() -> None:
    doc = _one(KUBERAY / "raycluster.yaml", "RayCluster")
    _check_cluster_spec(doc["spec"], "raycluster.yaml")
    assert doc["spec"]["headGroupSpec"].get("serviceType", "ClusterIP") == "ClusterIP"


def test_runs_pvc_is_read_write_many() -> None:
    (doc,) = [d for d in yaml.safe_load_all((KUBERAY / "runs-pvc.yaml").read_text()) if d]
    assert doc["kind"] == "PersistentVolumeClaim" and doc["metadata"]["name"] == "stackray-runs"
    assert doc["spec"]["accessModes"] == ["ReadWriteMany"]


def test_rayjob_runs_an_existing_entry_point_and_config() -> None:
    doc = _one(KUBERAY / "rayjob.yaml", "RayJob")
    spec = doc["spec"]
    _check_cluster_spec(spec["rayClusterSpec"], "rayjob.yaml")
    runtime_env = yaml.safe_load(spec["runtimeEnvYAML"])
    assert runtime_env["working_dir"] == "/app"  # where cluster/Dockerfile puts the repository
    argv = shlex.split(spec["entrypoint"])
    assert argv[:2] == ["python", "jobs/run_active.py"] and "--run-dir" in argv, spec["entrypoint"]
    assert argv[argv.index("--run-dir") + 1].startswith("/mnt/runs/")
    assert (REPO / argv[1]).exists(), f"rayjob.yaml runs {argv[1]}, which is not in the repository"
    assert (REPO / argv[2]).exists(), f"rayjob.yaml runs {argv[2]}, which is not in the repository"


def test_rayservice_serves_the_stackray_app() -> None:
    doc = _one(KUBERAY / "rayservice.yaml", "RayService")
    spec = doc["spec"]
    _check_cluster_spec(spec["rayClusterConfig"], "rayservice.yaml", want_cpu_group=False)
    serve = yaml.safe_load(spec["serveConfigV2"])
    (app,) = serve["applications"]
    assert app["import_path"] == "stackray.serve.app:build_app"
    assert app["args"]["run_dir"].startswith("/mnt/runs/")


def test_rayservice_import_path_is_a_callable_in_the_package() -> None:
    spec = _one(KUBERAY / "rayservice.yaml", "RayService")["spec"]
    (app,) = yaml.safe_load(spec["serveConfigV2"])["applications"]
    module, _, attr = app["import_path"].partition(":")
    assert callable(getattr(importlib.import_module(module), attr)), f"{app['import_path']} is not callable"


def test_launcher_yaml_passes_rays_schema() -> None:
    from ray.autoscaler._private.util import fillout_defaults, validate_config

    config = yaml.safe_load((REPO / "cluster" / "launcher.yaml").read_text())
    validate_config(fillout_defaults(config))  # raises jsonschema.ValidationError naming the field
    types = config["available_node_types"]
    assert config["head_node_type"] in types
    gpu = types["gpu_worker"]
    assert gpu["node_config"]["InstanceType"].startswith(("g", "p")), "the GPU node type is not a GPU instance"
    # torch pinned before anything that could resolve torch itself, then stackray with the gpu extra.
    commands = config["setup_commands"]
    torch_at = next(i for i, c in enumerate(commands) if "torch==" in c)
    editable_at = next(i for i, c in enumerate(commands) if "pip install" in c and " -e " in c)
    assert torch_at < editable_at
    gpu_cmds = gpu["worker_setup_commands"]
    assert any("torch==" in c for c in gpu_cmds[:1]) and any("[gpu]" in c for c in gpu_cmds[1:])
    assert all("--dashboard-host=0.0.0.0" not in c for c in config["head_start_ray_commands"])


def test_dockerfile_pins_the_same_ray_as_the_manifests() -> None:
    text = (REPO / "cluster" / "Dockerfile").read_text()
    assert f"rayproject/ray:{ray.__version__}-" in text
    install = text.index("pip install --no-cache-dir \"${TORCH}\"")
    assert install < text.index("pip install --no-cache-dir -e")


def test_rayjob_tune_runs_the_sweep_job_on_shared_storage() -> None:
    doc = _one(KUBERAY / "rayjob-tune.yaml", "RayJob")
    spec = doc["spec"]
    _check_cluster_spec(spec["rayClusterSpec"], "rayjob-tune.yaml")
    runtime_env = yaml.safe_load(spec["runtimeEnvYAML"])
    assert runtime_env["working_dir"] == "/app"
    assert runtime_env["env_vars"]["STACKRAY_CACHE"].startswith("/mnt/runs/")  # the feature cache on the PVC
    argv = shlex.split(spec["entrypoint"])
    assert argv[:2] == ["python", "jobs/tune_budget.py"] and "--sweep-dir" in argv, spec["entrypoint"]
    assert argv[argv.index("--sweep-dir") + 1].startswith("/mnt/runs/")  # every node reads and writes the sweep
    for path in argv[1:3]:
        assert (REPO / path).exists(), f"rayjob-tune.yaml runs {path}, which is not in the repository"
    from stackray.tune import load_sweep

    load_sweep(REPO / argv[2])  # the sweep file it names is valid
