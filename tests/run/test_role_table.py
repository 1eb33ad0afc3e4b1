"""The role table is the only place where actors are made: the actor classes are plain, and no other
module of the package decorates, wraps or starts one."""

import re
from pathlib import Path

import pytest

from stackray.actors import ScorerSpec
from stackray.run import roles

PACKAGE = Path(roles.__file__).resolve().parent.parent


def test_actor_classes_are_plain_python():
    for name, row in roles.ROLES.items():
        assert isinstance(row.cls, type) and not hasattr(row.cls, "remote"), name


def test_no_other_module_makes_an_actor():
    making = re.compile(r"@ray\.remote|ray\.remote\(|\.options\([^)]*max_restarts")
    offenders = [str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
                 if p != Path(roles.__file__).resolve() and making.search(p.read_text())]
    assert offenders == []


def test_unknown_role_is_named():
    with pytest.raises(ValueError, match="unknown actor role 'judge'"):
        roles.start("judge", max_restarts=0)


def test_scorer_resources_follow_the_backend():
    spec = ScorerSpec(backend="transformers", model=None, adapter=None, d_h=64, dtype="float32", batch_size=8,
                      fmt="cloze", cache_dir=None, threads=2)
    assert roles.scorer_resources(spec) == {"num_cpus": 2}
    vllm = ScorerSpec(**{**spec.__dict__, "backend": "vllm", "threads": None})
    assert roles.scorer_resources(vllm) == {"num_gpus": 1, "num_cpus": 1}
