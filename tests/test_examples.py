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


# The training examples, each for one short epoch on tiny data (their defaults train longer).
def test_train_default_example(tmp_path, capsys):
    example = load_example("train_default")
    result = example.main(
        [
            "--data",
            "builtin:identities=16,images=4,nuisance=0.4",
            "--epochs",
            "1",
            "--image-size",
            "32",
            "32",
            "--batch-size",
            "16",
            "--out",
            str(tmp_path / "run"),
        ]
    )
    assert result.report["epochs_done"] == 1
    assert (tmp_path / "run" / "report.json").is_file()
    assert "untrained ->" in capsys.readouterr().out


def test_train_folder_example_on_orl_faces(orl_faces_dir, tmp_path, capsys):
    example = load_example("train_folder")
    result = example.main(
        [
            str(orl_faces_dir),
            "--epochs",
            "1",
            "--image-size",
            "28",
            "24",
            "--out",
            str(tmp_path / "run"),
        ]
    )
    assert result.report["training_identities"] == 30
    assert "unreadable files skipped: 0" in capsys.readouterr().out


def test_train_tfds_example_on_an_image_folder_tree(tmp_path):
    pytest.importorskip("tensorflow_datasets", reason="tensorflow-datasets is not installed")
    from PIL import Image

    from keras_expface.data import make_synthetic_faces

    faces = make_synthetic_faces(8, 4, image_size=(32, 32), nuisance=0.4)
    for index, (image, name) in enumerate(
        zip(faces.images, (faces.class_names[label] for label in faces.labels), strict=True)
    ):
        folder = tmp_path / "tree" / "train" / name
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"{index}.png")
    example = load_example("train_tfds")
    result = example.main(
        [
            str(tmp_path / "tree"),
            "--epochs",
            "1",
            "--image-size",
            "32",
            "32",
            "--held-out",
            "3",
            "--batch-size",
            "8",
            "--out",
            str(tmp_path / "run"),
        ]
    )
    assert result.report["training_identities"] == 5
    assert result.report["data"].startswith("tfds")
