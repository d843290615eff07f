"""Saved agents that are corrupt, incomplete or missing: one clear error each."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from hwsim.errors import CodesignError
from rl_search.train import propose, train_agent


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("agent") / "a.zip"
    return train_agent("ppo", {"workload": "resnet20", "space": "haq"}, 64, 0, out,
                       n_steps=32, batch_size=32)


def _copy(agent: Path, tmp_path: Path, name: str) -> Path:
    zip_path = tmp_path / f"{name}.zip"
    shutil.copy(agent, zip_path)
    shutil.copy(agent.with_suffix(".json"), zip_path.with_suffix(".json"))
    return zip_path


def test_a_good_agent_proposes(agent):
    (design,) = propose(agent, "resnet20")
    assert design["latency_ms"] > 0


@pytest.mark.parametrize(("damage", "needle"), [
    (lambda z: z.write_bytes(b"garbage"), "not a loadable ppo agent"),
    (lambda z: z.with_suffix(".json").unlink(), "has no sidecar"),
    (lambda z: z.with_suffix(".json").write_text("{"), "invalid JSON"),
    (lambda z: z.with_suffix(".json").write_text("[1, 2]"), "JSON object expected"),
    (lambda z: z.with_suffix(".json").write_text('{"format_version": 99}'), "format_version"),
    (lambda z: z.unlink(), "no saved agent"),
])
def test_damaged_agent_files_are_named(agent, tmp_path, damage, needle):
    zip_path = _copy(agent, tmp_path, "broken")
    damage(zip_path)
    with pytest.raises(CodesignError, match=needle):
        propose(zip_path, "resnet20")


def test_a_sidecar_missing_keys_names_them(agent, tmp_path):
    zip_path = _copy(agent, tmp_path, "partial")
    meta = json.loads(zip_path.with_suffix(".json").read_text())
    del meta["space"], meta["form"]
    zip_path.with_suffix(".json").write_text(json.dumps(meta))
    with pytest.raises(CodesignError, match="lacks form, space"):
        propose(zip_path, "resnet20")
