"""The fine-tuning example runs (one short epoch per stage) and reports verification."""

import importlib.util

import pytest

from tests.conftest import REPO_ROOT


@pytest.mark.slow
def test_finetune_application_example(orl_faces_dir, mobilenet_v2_weights, capsys):
    spec = importlib.util.spec_from_file_location(
        "finetune_application", REPO_ROOT / "examples" / "finetune_application.py"
    )
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    result = example.main(
        [
            "--data", str(orl_faces_dir),
            "--weights", str(mobilenet_v2_weights),
            "--preprocessing", "torch",
            "--image-size", "32", "32",
            "--head-epochs", "1",
            "--finetune-epochs", "1",
            "--num-blocks", "2",
            "--held-out", "5",
        ]
    )  # fmt: skip
    assert result["after"].num_pairs == 450  # 5 identities: 225 positive + 225 negative pairs
    assert result["history"].finetune.epoch == [1]
    out = capsys.readouterr().out
    assert "held-out identities" in out and "unfrozen: block_15, block_16" in out
