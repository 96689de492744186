"""The training example runs (briefly) and reports verification before and after training."""

import importlib.util

import pytest

from tests.conftest import REPO_ROOT


def load_example(name):
    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_train_orl_example(orl_faces_dir, capsys):
    example = load_example("train_orl")
    result = example.main(["--data", str(orl_faces_dir), "--epochs", "3", "--held-out", "5"])
    assert result["after"].num_pairs == 450  # 5 identities: 225 positive + 225 negative pairs
    assert result["history"]["loss"][-1] < result["history"]["loss"][0]
    assert "held-out identities" in capsys.readouterr().out
