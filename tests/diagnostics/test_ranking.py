"""`rank_suspects`, `write_suspects_csv` and `precision_recall_at`."""

import csv
import math

import numpy as np
import pytest

from keras_expface.diagnostics import (
    SUSPECT_COLUMNS,
    SampleAngles,
    classify_regions,
    precision_recall_at,
    rank_suspects,
    write_suspects_csv,
)


@pytest.fixture
def angles():
    return SampleAngles(
        np.array([40.0, 90.0, 30.0, 45.0]),
        np.array([80.0, 95.0, 35.0, 70.0]),
        np.array([1, 2, 0, 3]),
    )


def test_rank_suspects_orders_by_score_then_index(angles):
    regions = classify_regions(angles)
    score = np.array([0.5, 3.0, 2.0, 3.0])
    suspects = rank_suspects(
        angles,
        [0, 1, 2, 3],
        regions,
        score,
        paths=["a.png", "b.png", "c.png", "d.png"],
        noise_kind=["clean", "type1", "type2", "clean"],
    )
    assert [s.index for s in suspects] == [1, 3, 2, 0]
    assert [s.rank for s in suspects] == [1, 2, 3, 4]
    first = suspects[0]
    assert (first.file, first.label, first.region, first.true_kind) == (
        "b.png",
        1,
        "type1_upper_right",
        "type1",
    )
    assert (first.target_angle, first.nearest_other_angle, first.margin) == (90.0, 95.0, 5.0)
    assert first.nearest_other_class == 2 and first.score == 3.0
    assert len(rank_suspects(angles, [0, 1, 2, 3], regions, score, top_k=2)) == 2
    assert rank_suspects(angles, [0, 1, 2, 3], regions, score)[0].file == ""


def test_rank_suspects_checks_lengths(angles):
    regions = classify_regions(angles)
    with pytest.raises(ValueError, match="labels"):
        rank_suspects(angles, [0, 1], regions, np.zeros(4))
    with pytest.raises(ValueError, match="paths"):
        rank_suspects(angles, [0, 1, 2, 3], regions, np.zeros(4), paths=["a"])
    with pytest.raises(ValueError, match="NaN"):
        rank_suspects(angles, [0, 1, 2, 3], regions, np.array([0, np.nan, 0, 0]))


@pytest.mark.parametrize("with_truth", [False, True])
def test_write_suspects_csv(tmp_path, angles, with_truth):
    truth = ["clean", "type1", "type2", "flip"] if with_truth else None
    suspects = rank_suspects(
        angles,
        [0, 1, 2, 3],
        classify_regions(angles),
        np.array([0.0, 2.0, 1.0, -1.0]),
        paths=["x/a.png", "x/b.png", "x/c.png", "x/d.png"],
        noise_kind=truth,
    )
    path = tmp_path / "suspects.csv"
    write_suspects_csv(path, suspects)
    with open(path, newline="") as file:
        rows = list(csv.DictReader(file))
    expected_columns = [*SUSPECT_COLUMNS, "true_kind"] if with_truth else list(SUSPECT_COLUMNS)
    assert list(rows[0]) == expected_columns
    assert [row["index"] for row in rows] == ["1", "2", "0", "3"]
    assert rows[0]["file"] == "x/b.png" and rows[0]["region"] == "type1_upper_right"
    assert rows[1]["region"] == "type2_lower_left" and rows[1]["margin"] == "5.0000"
    assert float(rows[0]["score"]) == 2.0 and rows[3]["rank"] == "4"
    if with_truth:
        assert [row["true_kind"] for row in rows] == ["type1", "type2", "clean", "flip"]


def test_precision_recall_hand_computed():
    # Ranking: index 0 (noisy), 3 (clean), 1 (noisy), 4 (clean), 2 (noisy), 5 (clean).
    score = [0.9, 0.7, 0.3, 0.8, 0.5, 0.1]
    is_noisy = [1, 1, 1, 0, 0, 0]
    quality = precision_recall_at(score, is_noisy, cutoffs=(1, 2, 3, 0.5, "num_noisy", 6, 10))
    rows = [
        (row["k"], row["flagged_noisy"], row["precision"], row["recall"])
        for row in quality.at_cutoffs
    ]
    assert rows == [
        (1, 1, 1.0, 1 / 3),
        (2, 1, 0.5, 1 / 3),
        (3, 2, 2 / 3, 2 / 3),
        (3, 2, 2 / 3, 2 / 3),
        (3, 2, 2 / 3, 2 / 3),
        (6, 3, 0.5, 1.0),
        (6, 3, 0.5, 1.0),
    ]
    # AP = (1 + 2/3 + 3/5) / 3. AUC: of the 9 (noisy, clean) pairs, 0.9 beats 3 clean
    # scores, 0.7 beats 2 (0.5, 0.1), 0.3 beats 1 (0.1): 6 / 9.
    assert quality.average_precision == pytest.approx((1 + 2 / 3 + 3 / 5) / 3)
    assert quality.roc_auc == pytest.approx(6 / 9)
    assert quality.num_samples == 6 and quality.num_noisy == 3


def test_precision_recall_matches_scikit_learn_with_ties():
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    score = rng.integers(0, 5, 200).astype(float)  # many ties
    is_noisy = rng.random(200) < 0.3
    quality = precision_recall_at(score, is_noisy, cutoffs=())
    assert quality.average_precision == pytest.approx(
        metrics.average_precision_score(is_noisy, score)
    )
    assert quality.roc_auc == pytest.approx(metrics.roc_auc_score(is_noisy, score))


def test_precision_recall_edge_cases():
    quality = precision_recall_at([1.0, 2.0], [False, False], cutoffs=(0, 1))
    assert math.isnan(quality.average_precision) and math.isnan(quality.roc_auc)
    assert math.isnan(quality.at_cutoffs[0]["precision"]) and math.isnan(
        quality.at_cutoffs[1]["recall"]
    )
    as_dict = quality.to_dict()
    assert as_dict["average_precision"] is None and as_dict["at_cutoffs"][0]["precision"] is None
    with pytest.raises(ValueError, match="cut-off"):
        precision_recall_at([1.0], [True], cutoffs=(1.5,))
    with pytest.raises(ValueError, match="booleans"):
        precision_recall_at([1.0], [2], cutoffs=())
