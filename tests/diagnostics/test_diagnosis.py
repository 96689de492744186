"""`diagnose`: the files it writes and what they hold."""

import csv
import json

import numpy as np
import pytest

from keras_expface.diagnostics import (
    REGIONS,
    SUSPECT_COLUMNS,
    diagnose,
    noise_score,
    sample_angles,
    synthetic_label_noise,
)


@pytest.fixture(scope="module")
def data():
    return synthetic_label_noise(num_classes=12, samples_per_class=10, seed=3)


def test_diagnose_without_output_or_truth(data):
    result = diagnose(data.embeddings, data.labels, data.centers, top_k=5)
    assert result.files == {} and result.ranking_quality is None
    assert len(result.suspects) == 5
    np.testing.assert_allclose(
        result.score, noise_score(sample_angles(data.embeddings, data.labels, data.centers))
    )
    assert set(result.summary["angle_statistics"]) == {"all"}
    assert sum(result.summary["region_counts"].values()) == len(data.labels)


def test_diagnose_writes_everything(tmp_path, data):
    pytest.importorskip("matplotlib")
    images = np.random.default_rng(0).integers(0, 256, (len(data.labels), 8, 8), dtype=np.uint8)
    paths = [f"faces/{i:04d}.png" for i in range(len(data.labels))]
    result = diagnose(
        data.embeddings,
        data.labels,
        data.centers,
        paths=paths,
        images=images,
        noise_kind=data.noise_kind,
        out_dir=tmp_path / "out",
        top_k=20,
        low=50,
        high=80,
    )
    names = {path.name for path in (tmp_path / "out").iterdir()}
    assert names == {
        "suspects.csv",
        "angles.png",
        "angle_histograms.png",
        "suspects.png",
        "diagnosis.json",
    }
    assert {key: path.name for key, path in result.files.items()}["suspects_png"] == "suspects.png"
    for name in ("angles.png", "angle_histograms.png", "suspects.png"):
        assert (tmp_path / "out" / name).stat().st_size > 1000

    with open(tmp_path / "out" / "suspects.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == 20 and list(rows[0]) == [*SUSPECT_COLUMNS, "true_kind"]
    top = int(rows[0]["index"])
    assert rows[0]["file"] == paths[top] and rows[0]["true_kind"] == data.noise_kind[top]
    assert float(rows[0]["score"]) == pytest.approx(result.score.max(), abs=1e-6)

    summary = json.loads((tmp_path / "out" / "diagnosis.json").read_text())
    assert summary == result.summary
    assert summary["num_samples"] == len(data.labels) and summary["num_classes"] == 14
    assert summary["thresholds"] == {"low": 50.0, "high": 80.0}
    assert set(summary["region_counts"]) == set(REGIONS)
    assert set(summary["angle_statistics"]) == {"all", "clean", "flip", "type1", "type2"}
    clean = data.noise_kind == "clean"
    clean_target = summary["angle_statistics"]["clean"]["target_angle"]
    assert clean_target["count"] == clean.sum()
    assert clean_target["median"] == pytest.approx(np.median(result.angles.target_angle[clean]))
    assert clean_target["std"] == pytest.approx(np.std(result.angles.target_angle[clean]))
    by_kind = summary["regions_by_kind"]
    assert sum(sum(counts.values()) for counts in by_kind.values()) == len(data.labels)
    quality = summary["ranking_quality"]
    assert quality["num_noisy"] == (~clean).sum() and quality["roc_auc"] > 0.9
    assert quality == result.ranking_quality.to_dict()
    rule = summary["region_rule"]
    assert rule["flagged"] == sum(summary["region_counts"][r] for r in REGIONS[1:])


def test_diagnose_checks_its_inputs(data):
    with pytest.raises(ValueError, match="noise_kind"):
        diagnose(data.embeddings, data.labels, data.centers, noise_kind=["clean"])
    with pytest.raises(ValueError, match="images"):
        diagnose(data.embeddings, data.labels, data.centers, images=np.zeros((2, 4, 4), np.uint8))
