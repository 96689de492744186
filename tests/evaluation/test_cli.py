"""`keras-expface evaluate`: in-process through `main`, once as a real subprocess."""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from PIL import Image

from keras_expface import CosineHead, evaluation
from keras_expface.cli import build_parser, main
from keras_expface.evaluation import write_bin
from tests.evaluation.synthetic import identity_images, write_identity_folder

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A saved training model (ending in a CosineHead) and three kinds of pair sources."""
    root = tmp_path_factory.mktemp("cli")
    inputs = keras.Input((16, 16, 1))
    features = keras.layers.Dense(8, name="embedding")(keras.layers.Flatten()(inputs))
    model = keras.Model(inputs, CosineHead(4)(features))
    model.save(root / "model.keras")

    # .bin: 20 pairs, alternating positive / negative, 16x16 grey PNGs.
    images, labels = identity_images(4, 6, size=16, seed=3)
    first = np.arange(20) % 24
    second = np.where(np.arange(20) % 2 == 0, first ^ 1, (first + 6) % 24)  # same id / next id
    pair_images = np.stack([images[first], images[second]], axis=1).reshape(-1, 16, 16, 1)
    write_bin(root / "synthetic.bin", pair_images, labels[first] == labels[second])

    # Identity folder at another size (resized to the model's 16x16).
    big, big_labels = identity_images(4, 5, size=20, seed=4)
    write_identity_folder(root / "held_out", big, big_labels)

    # LFW-style pairs.txt: 5 people x 3 images, 10 positive and 10 negative pairs.
    people, _ = identity_images(5, 3, size=16, seed=5)
    for index in range(15):
        person = f"P{index // 3}"
        (root / "lfw" / person).mkdir(parents=True, exist_ok=True)
        Image.fromarray(people[index, ..., 0]).save(
            root / "lfw" / person / f"{person}_{index % 3 + 1:04d}.jpg"
        )
    lines = ["2 5"]
    for k in range(20):
        p, q = k % 5, (k + 1) % 5
        lines.append(
            f"P{p} 1 {2 + k % 2}" if k % 2 == 0 else f"P{p} {1 + k % 3} P{q} {1 + (k // 2) % 3}"
        )
    (root / "lfw" / "pairs.txt").write_text("\n".join(lines) + "\n")
    return root


def test_evaluate_prints_the_table_and_saves_the_roc(files, capsys):
    status = main(
        [
            "evaluate",
            str(files / "model.keras"),
            str(files / "synthetic.bin"),
            str(files / "held_out"),
            str(files / "lfw" / "pairs.txt"),
            "--preprocessing",
            "unit",
            "--batch-size",
            "16",
            "--roc",
            str(files / "roc.png"),
        ]
    )
    out, err = capsys.readouterr()
    assert status == 0, err
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["set", "pairs", "accuracy"]
    assert [line.split()[0] for line in lines[1:4]] == ["synthetic", "held_out", "lfw"]
    assert lines[1].split()[1] == "20"
    assert "+-" in lines[1] and "note: synthetic: TAR@FAR=1e-2 needs at least 100" in out
    assert f"ROC curves saved to {files / 'roc.png'}" in out
    assert (files / "roc.png").stat().st_size > 1000
    assert "held_out: 80 pairs, 20 images" in err  # 4 x C(5, 2) positives, as many negatives


def test_evaluate_options(files, capsys, monkeypatch):
    calls = []
    real_evaluate_model = evaluation.evaluate_model

    def spy(model, pairs, **kwargs):
        calls.append((model.output_shape, pairs.images.shape, kwargs))
        return real_evaluate_model(model, pairs, **kwargs)

    monkeypatch.setattr(evaluation, "evaluate_model", spy)
    arguments = ["evaluate", str(files / "model.keras"), str(files / "synthetic.bin")]
    assert main(arguments) == 0
    assert calls[-1][:2] == ((None, 8), (40, 16, 16, 1))  # the model's size, grey
    assert calls[-1][2] == {"batch_size": 64, "flip": True, "preprocessing": "none"}
    options = ["--image-size", "16", "16", "--color-mode", "rgb", "--no-flip"]
    assert main([*arguments, *options, "--embedding-layer", "embedding", "--batch-size", "7"]) == 1
    assert "expected axis -1 of input shape to have value 256" in capsys.readouterr().err.lower()
    assert calls[-1][1] == (40, 16, 16, 3) and calls[-1][2]["flip"] is False
    assert calls[-1][2]["batch_size"] == 7


@pytest.mark.parametrize(
    ("make_source", "message"),
    [
        (lambda root: root / "missing.bin", "missing.bin' does not exist"),
        (lambda root: root / "model.keras", "neither a .bin file"),
    ],
)
def test_evaluate_errors(files, capsys, make_source, message):
    status = main(["evaluate", str(files / "model.keras"), str(make_source(files))])
    assert status == 1
    assert message in capsys.readouterr().err


def test_evaluate_refuses_a_malicious_bin(files, tmp_path, capsys):
    malicious = tmp_path / "lfw.bin"
    malicious.write_bytes(b"\x80\x02cposix\nsystem\nX\x04\x00\x00\x00trueR.")
    status = main(["evaluate", str(files / "model.keras"), str(malicious)])
    assert status == 1
    assert "posix.system" in capsys.readouterr().err


def test_missing_model_and_usage(files, capsys):
    assert main(["evaluate", str(files / "nope.keras"), str(files / "synthetic.bin")]) == 1
    assert "nope.keras' does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main([])
    assert exit_info.value.code == 2
    assert "evaluate" in build_parser().format_help()


def test_subprocess(files):
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "keras_expface.cli",
            "evaluate",
            str(files / "model.keras"),
            str(files / "synthetic.bin"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO_ROOT,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert completed.stdout.splitlines()[1].split()[:2] == ["synthetic", "20"]
