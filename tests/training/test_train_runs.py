"""Real (short) training runs: built-in data, ORL faces, kill-and-resume, bad input, CLI."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

import keras_expface as kx
from keras_expface import cli
from keras_expface.data import LabelNoise, make_synthetic_faces
from keras_expface.training import RunConfigMismatch, TrainConfig, train

# Easy built-in faces (low nuisance) at 32 x 32: a few epochs clearly improve verification.
BUILTIN = "builtin:identities=40,images=10,nuisance=0.4"
SMALL = {"image_size": (32, 32), "held_out": 12, "batch_size": 32, "verbose": 0}
TINY_BACKBONE = {"depth": [1, 1, 1, 1], "width_multiplier": 0.25}


@pytest.fixture(scope="module")
def builtin_run(tmp_path_factory):
    """Four epochs of ExpFace on the built-in data with 10% Type-I noise injected."""
    keras.backend.clear_session(free_memory=False)
    out = tmp_path_factory.mktemp("runs") / "builtin"
    config = TrainConfig(data=BUILTIN, epochs=4, noise="type1:0.1", **SMALL)
    return config, train(config, out=str(out))


def test_builtin_run_improves_held_out_verification(builtin_run):
    _, result = builtin_run
    before = result.report["untrained_verification"]["accuracy"]
    after = result.report["verification"]["accuracy"]
    assert after > before + 0.03, (before, after)
    assert result.history[-1]["loss"] < result.history[0]["loss"]
    assert result.resumed_from == 0


def _reject_non_json(constant):
    raise AssertionError(f"{constant} is not JSON")


def test_run_folder_holds_checkpoints_log_report_and_figures(builtin_run):
    config, result = builtin_run
    run = result.run_dir
    for name in (
        "config.json",
        "log.csv",
        "last.keras",
        "best.keras",
        "embedding.keras",
        "best_embedding.keras",
        "noise.csv",
        "report.json",
    ):
        assert os.path.isfile(os.path.join(run, name)), name
    assert sorted(os.listdir(os.path.join(run, "checkpoints"))) == [
        "epoch_0004.json",
        "epoch_0004.keras",
    ]
    with open(os.path.join(run, "log.csv")) as file:
        rows = list(csv.DictReader(file))
    assert [int(row["epoch"]) for row in rows] == [0, 1, 2, 3]
    assert "held_out_accuracy" in rows[0]
    report = json.load(open(os.path.join(run, "report.json")))
    # Strict JSON: an undefined metric (TAR at a FAR below 1 / negatives) is null, not NaN.
    for name in ("report.json", "checkpoints/epoch_0004.json", "diagnostics/diagnosis.json"):
        with open(os.path.join(run, name)) as file:
            json.load(file, parse_constant=_reject_non_json)
    assert report["config"] == config.to_dict()
    assert report["epochs_done"] == 4 and len(report["history"]) == 4
    assert report["pipeline_images_per_second"] > report["train_images_per_second"] > 0
    for figure in ("loss.png", "accuracy.png", "verification.png", "roc.png"):
        assert os.path.getsize(os.path.join(run, "figures", figure)) > 1000
    for name in ("angles.png", "angle_histograms.png", "suspects.csv", "diagnosis.json"):
        assert os.path.isfile(os.path.join(run, "diagnostics", name)), name
    # The injected noise is known, saved, and the angle picture's statistics split by kind.
    noise = LabelNoise.load(os.path.join(run, "noise.csv"))
    assert noise.counts()["type1"] == report["noise"]["counts"]["type1"] > 0
    assert set(report["angles"]["summary"]["angle_statistics"]) >= {"clean", "type1"}
    embedder = kx.load_model(os.path.join(run, "embedding.keras"))
    assert embedder.output_shape == (None, 128)
    # The config file repeats the run exactly.
    assert TrainConfig.from_json(open(os.path.join(run, "config.json")).read()) == config


def test_finished_run_started_again_only_rewrites_its_report(builtin_run):
    config, result = builtin_run
    again = train(config, out=result.run_dir)
    assert again.resumed_from == 4
    assert again.history == result.history


def test_run_folder_with_another_config_is_refused(builtin_run):
    config, result = builtin_run
    other = TrainConfig(**{**config.to_dict(), "loss": "arcface"})
    with pytest.raises(RunConfigMismatch, match="loss: 'expface' there, 'arcface' now"):
        train(other, out=result.run_dir)


def test_orl_run_improves_held_out_verification(orl_faces_dir, tmp_path):
    config = TrainConfig(
        data=str(orl_faces_dir),
        image_size=(40, 32),
        color_mode="grayscale",
        held_out=10,
        backbone="iresnet18",
        backbone_args=TINY_BACKBONE,
        epochs=6,
        batch_size=30,
        learning_rate=3e-3,
        verbose=0,
    )
    result = train(config, out=str(tmp_path / "orl"))
    assert result.report["training_identities"] == 30
    before = result.report["untrained_verification"]["accuracy"]
    after = result.report["verification"]["accuracy"]
    assert after > before + 0.03, (before, after)


def _train_command(out, epochs):
    return [
        sys.executable,
        "-m",
        "keras_expface.cli",
        "train",
        "--data",
        BUILTIN,
        "--image-size",
        "32",
        "32",
        "--held-out",
        "12",
        "--batch-size",
        "32",
        "--epochs",
        str(epochs),
        "--verbose",
        "2",
        "--out",
        str(out),
    ]


def test_killed_training_process_resumes_from_its_last_epoch(tmp_path):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    reference = subprocess.run(
        _train_command(tmp_path / "reference", 2), env=env, capture_output=True, text=True
    )
    assert reference.returncode == 0, reference.stderr[-3000:]

    out = tmp_path / "killed"
    process = subprocess.Popen(
        _train_command(out, 2), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 600
    while not (out / "checkpoints" / "epoch_0001.json").exists():
        assert process.poll() is None, "the training process ended before its first checkpoint"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)  # in epoch 2, mid-step or mid-checkpoint
    process.wait()
    resumed = subprocess.run(_train_command(out, 2), env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "Resuming" in resumed.stdout and "after epoch" in resumed.stdout

    with open(out / "log.csv") as file:
        assert [int(row["epoch"]) for row in csv.DictReader(file)] == [0, 1]
    finished = kx.load_model(str(out / "last.keras"))
    expected = kx.load_model(str(tmp_path / "reference" / "last.keras"))
    assert (
        int(finished.optimizer.iterations) == int(expected.optimizer.iterations) == 2 * 12
    )  # 400 images // 32
    # Same batches, same optimizer state: the resumed run ends where the uninterrupted one does.
    for got, want in zip(finished.weights, expected.weights, strict=True):
        np.testing.assert_allclose(
            np.asarray(got), np.asarray(want), rtol=1e-3, atol=1e-3, err_msg=got.path
        )


def _write_folder(root, corrupt=True):
    from PIL import Image

    faces = make_synthetic_faces(9, 5, image_size=(32, 32), nuisance=0.4)
    for image, label, index in zip(faces.images, faces.labels, range(len(faces)), strict=True):
        count = 1 if label == 8 else 5  # identity 8 keeps a single image
        if index % 5 < count:
            folder = root / f"person{label}"
            folder.mkdir(exist_ok=True)
            Image.fromarray(image).save(folder / f"{index % 5}.png")
    if corrupt:
        (root / "person0" / "broken.png").write_bytes(b"not a png at all")


def test_corrupt_images_are_skipped_and_listed_in_the_report(tmp_path):
    root = tmp_path / "faces"
    root.mkdir()
    _write_folder(root)
    config = TrainConfig(data=str(root), epochs=1, **{**SMALL, "held_out": 3, "batch_size": 8})
    with pytest.warns(UserWarning) as warned:
        result = train(config, out=str(tmp_path / "run"))
    messages = " ".join(str(w.message) for w in warned)
    assert "unreadable" in messages and "fewer than 2 images" in messages
    listed = result.report["unreadable_at_load"]
    assert [os.path.basename(path) for path, _ in listed] == ["broken.png"]
    # The single-image identity trains (it cannot be held out for verification).
    assert result.report["training_identities"] == 6


def test_cli_rejects_unknown_loss_listing_the_valid_ones(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", "--loss", "softmax"])
    assert exit_info.value.code == 2
    assert "expface" in capsys.readouterr().err


def test_cli_unknown_backbone_is_a_one_line_error(tmp_path, capsys):
    status = cli.main(
        [
            "train",
            "--data",
            "builtin:identities=6,images=3",
            "--backbone",
            "resnet7",
            "--out",
            str(tmp_path / "run"),
            "--verbose",
            "0",
        ]
    )
    assert status == 1
    error = capsys.readouterr().err
    assert "Unknown backbone 'resnet7'" in error and "iresnet50" in error


def test_cli_missing_folder_is_a_one_line_error(tmp_path, capsys):
    status = cli.main(["train", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "r")])
    assert status == 1
    assert "does not exist" in capsys.readouterr().err


def test_diagnose_command_on_a_run_folder(builtin_run, tmp_path, capsys):
    _, result = builtin_run
    out = tmp_path / "diagnosis"
    status = cli.main(["diagnose", result.run_dir, "--out", str(out), "--top-k", "20"])
    assert status == 0
    printed = capsys.readouterr().out
    noisy = result.report["noise"]["counts"]["type1"]  # the run's Type-I images, rebuilt
    assert f"Known noisy samples: {noisy}" in printed
    summary = json.load(open(out / "diagnosis.json"))
    assert summary["num_samples"] == result.report["training_images"]
    assert summary["ranking_quality"]["num_noisy"] == noisy
    with open(out / "suspects.csv") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == 20 and {"file", "region", "score", "true_kind"} <= set(rows[0])
    for name in ("angles.png", "angle_histograms.png", "suspects.png"):
        assert (out / name).stat().st_size > 1000


def test_diagnose_command_on_a_model_and_data(builtin_run, tmp_path, capsys):
    _, result = builtin_run
    status = cli.main(
        [
            "diagnose",
            os.path.join(result.run_dir, "best.keras"),
            "--data",
            "builtin:identities=40,images=10,nuisance=0.4",
            "--noise",
            "flip:0.1",
            "--out",
            str(tmp_path / "d"),
        ]
    )
    assert status == 0
    assert "Known noisy samples: 40" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        cli.main(["diagnose"])
    assert cli.main(["diagnose", os.path.join(result.run_dir, "best.keras")]) == 1
    assert "needs --data" in capsys.readouterr().err
