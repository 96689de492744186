"""Label-noise diagnostics from the angles between samples and class centres (Figure 1).

A trained head's class centres and the training embeddings give each sample two angles:
to its own class centre (θ_y) and to the nearest other centre (θ_other). ExpFace's paper
observes that clean samples sit in a central region of that plane, Type-I noise (images of
no training identity) in the upper right and Type-II noise (one identity split over
several labels) in the lower left. This package computes the angles, the regions of the
authors' rule, a noise score to rank suspects, precision/recall against a known truth, and
the figures. NumPy only; Matplotlib (the `plot` extra) for the figures.

Example:

```python
from keras_expface import diagnostics, evaluation

embeddings = evaluation.compute_embeddings(evaluation.embedding_model_from(model), images)
centers, num_subcenters = diagnostics.head_centers(model)
result = diagnostics.diagnose(embeddings, labels, centers, num_subcenters,
                              images=images, out_dir="diagnosis")
```
"""

from keras_expface.diagnostics.angles import HeadCenters, SampleAngles, head_centers, sample_angles
from keras_expface.diagnostics.diagnosis import Diagnosis, diagnose
from keras_expface.diagnostics.figures import (
    contact_sheet,
    plot_angle_histograms,
    plot_angle_scatter,
)
from keras_expface.diagnostics.ranking import (
    DEFAULT_CUTOFFS,
    SUSPECT_COLUMNS,
    RankingQuality,
    Suspect,
    precision_recall_at,
    rank_suspects,
    write_suspects_csv,
)
from keras_expface.diagnostics.regions import (
    DEFAULT_HIGH,
    DEFAULT_LOW,
    REGION_CENTRAL,
    REGION_TYPE1,
    REGION_TYPE2,
    REGIONS,
    classify_regions,
)
from keras_expface.diagnostics.scoring import noise_score, robust_z
from keras_expface.diagnostics.synthetic import (
    NOISE_KINDS,
    SyntheticLabelNoise,
    synthetic_label_noise,
)

__all__ = [
    "DEFAULT_CUTOFFS",
    "DEFAULT_HIGH",
    "DEFAULT_LOW",
    "NOISE_KINDS",
    "REGIONS",
    "REGION_CENTRAL",
    "REGION_TYPE1",
    "REGION_TYPE2",
    "SUSPECT_COLUMNS",
    "Diagnosis",
    "HeadCenters",
    "RankingQuality",
    "SampleAngles",
    "Suspect",
    "SyntheticLabelNoise",
    "classify_regions",
    "contact_sheet",
    "diagnose",
    "head_centers",
    "noise_score",
    "plot_angle_histograms",
    "plot_angle_scatter",
    "precision_recall_at",
    "rank_suspects",
    "robust_z",
    "sample_angles",
    "synthetic_label_noise",
    "write_suspects_csv",
]
