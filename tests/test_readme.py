"""The README's examples run as written: every ``sh`` block line by line and every ``python``
block, in order, in an empty folder, with the installed ``codesign`` on the PATH."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(r"^```(sh|python)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def _blocks() -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in BLOCK.finditer(README.read_text())]


def test_the_readme_has_runnable_examples():
    kinds = [kind for kind, _ in _blocks()]
    assert kinds.count("sh") >= 3 and kinds.count("python") >= 1


@pytest.mark.slow
def test_readme_examples_run_as_written(tmp_path):
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
               MPLBACKEND="Agg")
    for kind, body in _blocks():
        if kind == "python":
            done = subprocess.run([sys.executable, "-c", body], cwd=tmp_path, env=env,
                                  capture_output=True, text=True, timeout=600)
            assert done.returncode == 0, f"python block failed:\n{body}\n{done.stderr[-2000:]}"
            continue
        for line in body.splitlines():
            command = line.split("  #")[0].strip()
            if not command or command.startswith("#"):
                continue
            done = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=env,
                                  capture_output=True, text=True, timeout=600)
            assert done.returncode == 0, f"{command}\n{done.stderr[-2000:]}"
