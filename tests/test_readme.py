"""The README's quickstart block and the quickstart example run as written."""

import re
import subprocess
import sys

from tests.conftest import REPO_ROOT


def test_readme_quickstart_runs():
    readme = (REPO_ROOT / "README.md").read_text()
    block = re.search(r"```python\n(.*?)```", readme, re.DOTALL).group(1)
    assert "kx.ExpFaceLoss()" in block and "model.fit(" in block
    namespace = {}
    exec(compile(block, "README.md", "exec"), namespace)  # our own README
    assert namespace["model"].output_shape == (None, 1000)


def test_readme_partial_fc_block_runs():
    readme = (REPO_ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, re.DOTALL)
    block = next(b for b in blocks if "kx.PartialFCModel(" in b)
    namespace = {}
    exec(compile(block, "README.md", "exec"), namespace)
    assert namespace["cosines"].shape == (8, 1000)


def test_quickstart_example_runs():
    result = subprocess.run(
        [sys.executable, "examples/quickstart.py"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "loss" in result.stdout
