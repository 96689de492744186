"""`diagnose`: angles, regions, noise score, suspect ranking, figures and a JSON, in one call."""

from __future__ import annotations

import dataclasses
import os
import pathlib
from collections.abc import Sequence

import numpy as np

from keras_expface._json import dumps, json_safe
from keras_expface.diagnostics.angles import SampleAngles, sample_angles
from keras_expface.diagnostics.figures import (
    contact_sheet,
    plot_angle_histograms,
    plot_angle_scatter,
)
from keras_expface.diagnostics.ranking import (
    DEFAULT_CUTOFFS,
    RankingQuality,
    Suspect,
    precision_recall_at,
    rank_suspects,
    write_suspects_csv,
)
from keras_expface.diagnostics.regions import (
    DEFAULT_HIGH,
    DEFAULT_LOW,
    REGIONS,
    classify_regions,
)
from keras_expface.diagnostics.scoring import noise_score
from keras_expface.diagnostics.synthetic import NOISE_KIND_CLEAN

#: Most images on the contact sheet of `diagnose`.
MAX_CONTACT_SHEET_IMAGES = 64
#: The description of the score written to `diagnosis.json`.
SCORE_FORMULA = "max(z(target_angle), -z(nearest_other_angle)) + z(target - nearest_other)"


@dataclasses.dataclass(frozen=True)
class Diagnosis:
    """What `diagnose` computed.

    Attributes:
        angles: The `SampleAngles` of all samples.
        regions: `(N,)` region names (`classify_regions`).
        score: `(N,)` noise scores (`noise_score`), higher = more suspect.
        suspects: The `top_k` most suspect samples (`Suspect`s, rank 1 first).
        summary: The JSON-friendly summary written to `diagnosis.json`: counts per region,
            angle statistics, and (with a ground truth) the ranking quality.
        ranking_quality: `RankingQuality` of the score against the truth; `None` without one.
        files: Paths written, by name (`suspects_csv`, `angles_png`, ...); empty without
            `out_dir`.
    """

    angles: SampleAngles
    regions: np.ndarray
    score: np.ndarray
    suspects: list[Suspect]
    summary: dict
    ranking_quality: RankingQuality | None = None
    files: dict = dataclasses.field(default_factory=dict)


def _statistics(values: np.ndarray) -> dict:
    if values.size == 0:
        return {"count": 0, "mean": None, "median": None, "std": None}
    return {
        "count": int(values.size),
        "mean": float(np.mean(values)),
        "median": float(np.median(values)),
        "std": float(np.std(values)),
    }


def _angle_statistics(angles: SampleAngles, score: np.ndarray, selected: np.ndarray) -> dict:
    return {
        "target_angle": _statistics(angles.target_angle[selected]),
        "nearest_other_angle": _statistics(angles.nearest_other_angle[selected]),
        "margin": _statistics(angles.margin[selected]),
        "score": _statistics(score[selected]),
    }


def diagnose(
    embeddings,
    labels,
    centers,
    num_subcenters: int = 1,
    paths: Sequence[str] | None = None,
    images=None,
    noise_kind=None,
    out_dir=None,
    low: float = DEFAULT_LOW,
    high: float = DEFAULT_HIGH,
    top_k: int | None = 100,
    cutoffs=DEFAULT_CUTOFFS,
) -> Diagnosis:
    """Finds label-noise suspects from the angles between embeddings and class centres.

    Computes `sample_angles`, `classify_regions`, `noise_score` and `rank_suspects`, and
    with a ground truth `precision_recall_at`. With `out_dir`, writes:

    * `suspects.csv`: the `top_k` suspects (`write_suspects_csv`);
    * `angles.png`: the Figure-1 scatter (`plot_angle_scatter`);
    * `angle_histograms.png`: the angle histograms (`plot_angle_histograms`);
    * `suspects.png`: a contact sheet of the first `min(top_k, 64)` suspects, if `images`;
    * `diagnosis.json`: the `summary` (counts per region, angle statistics of all samples
      and, with a ground truth, of each kind, the regions of each kind, the ranking quality
      of the score and the precision/recall of the region rule).

    The figures need Matplotlib (`pip install 'keras-expface[plot]'`).

    Args:
        embeddings: `(N, D)` embeddings of the training samples.
        labels: `(N,)` their training labels.
        centers: `(D, C * K)` class centres (`head_centers(model)`).
        num_subcenters: Sub-centres per class `K`. Defaults to `1`.
        paths: Optional `N` file paths, for the CSV and the captions. Defaults to `None`.
        images: Optional uint8 images `(N, H, W[, C])` for the contact sheet. Defaults to
            `None`.
        noise_kind: Optional `(N,)` ground truth: "clean" or the kind of noise ("flip",
            "type1", "type2", ...). Defaults to `None`.
        out_dir: Folder to write the files to (created). Defaults to `None` (nothing
            written).
        low: Lower-left (Type-II) threshold, degrees. Defaults to `55.0`.
        high: Upper-right (Type-I) threshold, degrees. Defaults to `87.0`.
        top_k: Suspects kept in `Diagnosis.suspects` and the CSV; `None` keeps all.
            Defaults to `100`.
        cutoffs: Cut-offs of `precision_recall_at`. Defaults to `DEFAULT_CUTOFFS`.

    Returns:
        A `Diagnosis`.

    Example:

    >>> from keras_expface.diagnostics import synthetic_label_noise
    >>> data = synthetic_label_noise(num_classes=20, samples_per_class=10, seed=0)
    >>> result = diagnose(data.embeddings, data.labels, data.centers,
    ...                   noise_kind=data.noise_kind, top_k=10)
    >>> [suspect.rank for suspect in result.suspects[:3]]
    [1, 2, 3]
    >>> result.ranking_quality.roc_auc > 0.9
    True
    """
    angles = sample_angles(embeddings, labels, centers, num_subcenters=num_subcenters)
    labels = np.asarray(labels).reshape(len(angles))
    regions = classify_regions(angles, low=low, high=high)
    score = noise_score(angles)
    if noise_kind is not None:
        noise_kind = np.asarray(noise_kind).astype(str)
        if noise_kind.shape != (len(angles),):
            raise ValueError(
                f"noise_kind must have shape ({len(angles)},); got {noise_kind.shape}."
            )
    if images is not None and len(images) != len(angles):
        raise ValueError(f"images must hold {len(angles)} images; got {len(images)}.")
    suspects = rank_suspects(
        angles, labels, regions, score, paths=paths, noise_kind=noise_kind, top_k=top_k
    )

    summary = {
        "num_samples": len(angles),
        "num_classes": int(np.asarray(centers).shape[1] // num_subcenters),
        "num_subcenters": int(num_subcenters),
        "thresholds": {"low": float(low), "high": float(high)},
        "region_counts": {region: int(np.sum(regions == region)) for region in REGIONS},
        "score": SCORE_FORMULA,
        "angle_statistics": {"all": _angle_statistics(angles, score, np.ones(len(angles), bool))},
    }
    ranking_quality = None
    if noise_kind is not None:
        kinds = [NOISE_KIND_CLEAN, *sorted(set(noise_kind.tolist()) - {NOISE_KIND_CLEAN})]
        for kind in kinds:
            summary["angle_statistics"][kind] = _angle_statistics(angles, score, noise_kind == kind)
        summary["regions_by_kind"] = {
            kind: {
                region: int(np.sum((noise_kind == kind) & (regions == region)))
                for region in REGIONS
            }
            for kind in kinds
        }
        is_noisy = noise_kind != NOISE_KIND_CLEAN
        ranking_quality = precision_recall_at(score, is_noisy, cutoffs=cutoffs)
        summary["ranking_quality"] = ranking_quality.to_dict()
        flagged = regions != REGIONS[0]
        true_positives = int(np.sum(flagged & is_noisy))
        summary["region_rule"] = {
            "flagged": int(flagged.sum()),
            "flagged_noisy": true_positives,
            "precision": true_positives / flagged.sum() if flagged.any() else None,
            "recall": true_positives / is_noisy.sum() if is_noisy.any() else None,
        }
    summary = json_safe(summary)

    files = {}
    if out_dir is not None:
        out_dir = pathlib.Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        files["suspects_csv"] = out_dir / "suspects.csv"
        write_suspects_csv(files["suspects_csv"], suspects)
        files["angles_png"] = out_dir / "angles.png"
        plot_angle_scatter(angles, files["angles_png"], noise_kind=noise_kind, low=low, high=high)
        files["angle_histograms_png"] = out_dir / "angle_histograms.png"
        plot_angle_histograms(
            angles, files["angle_histograms_png"], noise_kind=noise_kind, low=low, high=high
        )
        if images is not None and suspects:
            shown = suspects[:MAX_CONTACT_SHEET_IMAGES]
            captions = [
                f"#{s.rank} y={s.label} {s.score:.1f}"
                + (f" {s.true_kind}" if s.true_kind else "")
                + (f"\n{os.path.basename(s.file)}" if s.file else "")
                for s in shown
            ]
            files["suspects_png"] = out_dir / "suspects.png"
            contact_sheet(
                images, [s.index for s in shown], files["suspects_png"], captions=captions
            )
        files["diagnosis_json"] = out_dir / "diagnosis.json"
        files["diagnosis_json"].write_text(
            dumps(summary, indent=2) + "\n", encoding="utf-8"
        )
    return Diagnosis(
        angles=angles,
        regions=regions,
        score=score,
        suspects=suspects,
        summary=summary,
        ranking_quality=ranking_quality,
        files=files,
    )
