"""The figures: PNG files written, no pyplot state touched, clear errors."""

import sys

import numpy as np
import pytest

from keras_expface.diagnostics import (
    contact_sheet,
    plot_angle_histograms,
    plot_angle_scatter,
    sample_angles,
    synthetic_label_noise,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

pytest.importorskip("matplotlib")


@pytest.fixture(scope="module")
def noisy_data():
    data = synthetic_label_noise(num_classes=10, samples_per_class=8, seed=0)
    return data, sample_angles(data.embeddings, data.labels, data.centers)


def assert_png(path):
    content = path.read_bytes()
    assert content.startswith(PNG_SIGNATURE) and len(content) > 1000


@pytest.mark.parametrize("with_truth", [False, True])
def test_angle_scatter_and_histograms(tmp_path, noisy_data, with_truth):
    data, angles = noisy_data
    truth = data.noise_kind if with_truth else None
    figure = plot_angle_scatter(angles, tmp_path / "angles.png", noise_kind=truth, title="t")
    assert_png(tmp_path / "angles.png")
    legend = figure.axes[0].get_legend()
    if with_truth:
        labels = [text.get_text().split()[0] for text in legend.get_texts()]
        assert labels == ["clean", "flip", "type1", "type2"]
    else:
        assert legend is None
    plot_angle_histograms(angles, tmp_path / "hist.png", noise_kind=truth, low=50, high=80)
    assert_png(tmp_path / "hist.png")


def test_unknown_kinds_get_colours(tmp_path, noisy_data):
    _, angles = noisy_data
    kinds = np.where(np.arange(len(angles)) % 2, "clean", "mystery")
    plot_angle_scatter(angles, tmp_path / "angles.png", noise_kind=kinds)
    assert_png(tmp_path / "angles.png")
    with pytest.raises(ValueError, match="noise_kind"):
        plot_angle_scatter(angles, noise_kind=kinds[:3])


def test_figures_leave_pyplot_alone(noisy_data):
    _, angles = noisy_data
    pyplot_loaded = "matplotlib.pyplot" in sys.modules
    figure = plot_angle_scatter(angles)
    assert figure.canvas.__class__.__name__ == "FigureCanvasAgg"
    assert ("matplotlib.pyplot" in sys.modules) == pyplot_loaded
    if pyplot_loaded:
        assert sys.modules["matplotlib.pyplot"].get_fignums() == []


@pytest.mark.parametrize("shape", [(6, 12, 10), (6, 12, 10, 1), (6, 12, 10, 3)])
def test_contact_sheet(tmp_path, shape):
    images = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    figure = contact_sheet(
        images, [5, 0, 2, 3, 1], tmp_path / "sheet.png", captions=list("abcde"), columns=2
    )
    assert_png(tmp_path / "sheet.png")
    # One mosaic of 3 rows x 2 columns (the last cell empty), one caption per image.
    (axes,) = figure.axes
    assert [text.get_text() for text in axes.texts] == list("abcde")
    mosaic = axes.get_images()[0].get_array()
    assert mosaic.shape[0] > 3 * 12 and mosaic.shape[1] >= 2 * 10


def test_contact_sheet_errors():
    images = np.zeros((3, 8, 8), np.uint8)
    with pytest.raises(ValueError, match="empty"):
        contact_sheet(images, [])
    with pytest.raises(ValueError, match="out of range"):
        contact_sheet(images, [0, 3])
    with pytest.raises(ValueError, match="uint8"):
        contact_sheet(images.astype(float), [0])
    with pytest.raises(ValueError, match="shape"):
        contact_sheet(np.zeros((3, 8, 8, 2), np.uint8), [0])
    with pytest.raises(ValueError, match="captions"):
        contact_sheet(images, [0, 1], captions=["a"])


def test_missing_matplotlib_names_the_extra(monkeypatch, noisy_data):
    _, angles = noisy_data
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # makes the import fail
    with pytest.raises(ImportError, match=r"pip install 'keras-expface\[plot\]'"):
        plot_angle_scatter(angles)
