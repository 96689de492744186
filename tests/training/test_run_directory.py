"""keras_expface.training.run_directory: the files of a run, written to survive a kill."""

import os

import keras
import numpy as np
import pytest

from keras_expface.training import RunConfigMismatch, RunDirectory, TrainConfig
from keras_expface.training.run_directory import (
    CHECKPOINT_DIR,
    CONFIG_FILE,
    FIGURE_DIR,
    LAST_MODEL,
    LOG_FILE,
    atomic_save_model,
    atomic_write_text,
)


def tiny_model():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    return model


def checkpoint_files(run):
    return sorted(os.listdir(run.file(CHECKPOINT_DIR)))


def test_prepare_a_new_run(tmp_path):
    run = RunDirectory(tmp_path / "runs" / "first")
    config = TrainConfig(epochs=3)
    assert run.read_config() is None
    assert run.prepare(config) is False
    assert os.path.isdir(run.file(CHECKPOINT_DIR)) and os.path.isdir(run.file(FIGURE_DIR))
    assert run.config_path == os.path.join(run.path, CONFIG_FILE)
    assert run.read_config() == config
    assert run.latest_checkpoint() is None


def test_an_existing_empty_folder_is_a_new_run(tmp_path):
    assert RunDirectory(tmp_path).prepare(TrainConfig()) is False


def test_the_same_config_resumes(tmp_path):
    run = RunDirectory(tmp_path / "run")
    run.prepare(TrainConfig(epochs=3))
    (tmp_path / "run" / LOG_FILE).write_text("epoch,loss\n0,1.0\n")
    assert run.prepare(TrainConfig(epochs=3)) is True
    # Runtime-only fields may differ on resume.
    assert run.prepare(TrainConfig(epochs=3, workers=4, verbose=0)) is True
    assert (tmp_path / "run" / LOG_FILE).read_text() == "epoch,loss\n0,1.0\n"


def test_a_different_config_raises_and_lists_the_differences(tmp_path):
    run = RunDirectory(tmp_path / "run")
    run.prepare(TrainConfig(epochs=3))
    with pytest.raises(RunConfigMismatch, match=r"epochs: 3 there, 5 now") as raised:
        run.prepare(TrainConfig(epochs=5, loss="cosface"))
    assert isinstance(raised.value, ValueError)
    assert "loss: 'expface' there, 'cosface' now" in str(raised.value)
    assert "--overwrite" in str(raised.value)
    assert run.read_config() == TrainConfig(epochs=3)  # untouched


def test_overwrite_replaces_a_different_run(tmp_path):
    run = RunDirectory(tmp_path / "run")
    run.prepare(TrainConfig(epochs=3))
    (tmp_path / "run" / LOG_FILE).write_text("epoch,loss\n")
    assert run.prepare(TrainConfig(epochs=5), overwrite=True) is False
    assert run.read_config() == TrainConfig(epochs=5)
    assert not (tmp_path / "run" / LOG_FILE).exists()
    assert os.path.isdir(run.file(CHECKPOINT_DIR))


def test_a_folder_that_is_not_a_run_is_refused(tmp_path):
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "holiday.jpg").write_bytes(b"...")
    run = RunDirectory(tmp_path / "photos")
    with pytest.raises(FileExistsError, match="not a keras-expface run folder"):
        run.prepare(TrainConfig())
    assert (tmp_path / "photos" / "holiday.jpg").exists()
    assert run.prepare(TrainConfig(), overwrite=True) is False
    assert not (tmp_path / "photos" / "holiday.jpg").exists()


def test_overwrite_replaces_a_run_with_an_unreadable_config(tmp_path):
    (tmp_path / CONFIG_FILE).write_text("{torn")
    assert RunDirectory(tmp_path).prepare(TrainConfig(), overwrite=True) is False


def test_checkpoints_keep_only_the_newest(tmp_path):
    run = RunDirectory(tmp_path / "run")
    run.prepare(TrainConfig())
    model = tiny_model()
    for epoch in (1, 2, 3):
        path = run.save_checkpoint(model, epoch, {"epoch": epoch, "best": np.float32(0.5)})
        assert path == run.file(CHECKPOINT_DIR, f"epoch_{epoch:04d}.keras")
    assert checkpoint_files(run) == ["epoch_0003.json", "epoch_0003.keras"]
    epochs_done, model_path, state = run.latest_checkpoint()
    assert epochs_done == 3 and model_path == run.file(CHECKPOINT_DIR, "epoch_0003.keras")
    assert state == {"epoch": 3, "best": 0.5}
    run.save_checkpoint(model, 4, {"epoch": 4}, keep=2)
    run.save_checkpoint(model, 5, {"epoch": 5}, keep=2)
    assert checkpoint_files(run) == [
        "epoch_0004.json",
        "epoch_0004.keras",
        "epoch_0005.json",
        "epoch_0005.keras",
    ]
    assert run.latest_checkpoint()[0] == 5


def test_last_model_is_the_newest_checkpoint(tmp_path):
    run = RunDirectory(tmp_path / "run")
    run.prepare(TrainConfig())
    model = tiny_model()
    run.save_checkpoint(model, 1, {})
    model.layers[0].kernel.assign(np.full((3, 2), 0.25, "float32"))
    run.save_checkpoint(model, 2, {})  # deletes epoch 1, which last.keras linked to before
    assert os.path.isfile(run.file(LAST_MODEL))
    restored = keras.saving.load_model(run.file(LAST_MODEL))
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(restored.layers[0].kernel), np.full((3, 2), 0.25)
    )
    assert not [name for name in os.listdir(run.path) if name.endswith(".tmp")]


def test_a_checkpoint_without_its_state_is_ignored(tmp_path):
    run = RunDirectory(tmp_path / "run")
    run.prepare(TrainConfig())
    model = tiny_model()
    run.save_checkpoint(model, 1, {"epoch": 1})
    # Killed between the model and the state of epoch 2: only the model was renamed in.
    atomic_save_model(model, run.file(CHECKPOINT_DIR, "epoch_0002.keras"))
    # And a state without a model (e.g. removed by hand) is no checkpoint either.
    atomic_write_text(run.file(CHECKPOINT_DIR, "epoch_0003.json"), '{"epoch": 3}')
    epochs_done, model_path, state = run.latest_checkpoint()
    assert (epochs_done, state) == (1, {"epoch": 1})
    assert model_path.endswith("epoch_0001.keras") and os.path.isfile(model_path)


def test_truncate_log(tmp_path):
    run = RunDirectory(tmp_path)
    run.truncate_log(3)  # no log yet: nothing to do
    log = tmp_path / LOG_FILE
    log.write_text("epoch,loss\n0,3.0\n1,2.0\n2,1.0\n3,0.5\n")
    run.truncate_log(5)
    assert log.read_text() == "epoch,loss\n0,3.0\n1,2.0\n2,1.0\n3,0.5\n"
    run.truncate_log(2)
    assert log.read_text() == "epoch,loss\n0,3.0\n1,2.0\n"
    run.truncate_log(0)
    assert log.read_text() == "epoch,loss\n"


def test_atomic_write_text(tmp_path):
    path = tmp_path / "state.json"
    atomic_write_text(str(path), "first")
    atomic_write_text(str(path), "second ✓")
    assert path.read_text(encoding="utf-8") == "second ✓"
    assert os.listdir(tmp_path) == ["state.json"]
