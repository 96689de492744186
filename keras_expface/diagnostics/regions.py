"""The regions of the angle plane (the paper's Figure 1) and the authors' region rule."""

from __future__ import annotations

import numpy as np

from keras_expface.diagnostics.angles import SampleAngles

#: Target and nearest-other angles both below `low`: one identity split over several labels.
REGION_TYPE2 = "type2_lower_left"
#: Target and nearest-other angles both above `high`: a sample of no training identity.
REGION_TYPE1 = "type1_upper_right"
#: Everything else, where clean samples sit.
REGION_CENTRAL = "central"
#: The region names, in the order of the figure's legend.
REGIONS = (REGION_CENTRAL, REGION_TYPE1, REGION_TYPE2)
#: The thresholds (degrees) of the authors' `sample_dis.py`.
DEFAULT_LOW = 55.0
DEFAULT_HIGH = 87.0


def check_thresholds(low: float, high: float) -> tuple[float, float]:
    """Returns `(low, high)` as floats; raises a ValueError unless `0 <= low <= high <= 180`."""
    low, high = float(low), float(high)
    if not 0.0 <= low <= high <= 180.0:
        raise ValueError(f"Need 0 <= low <= high <= 180 (degrees); got low={low}, high={high}.")
    return low, high


def classify_regions(
    angles: SampleAngles, low: float = DEFAULT_LOW, high: float = DEFAULT_HIGH
) -> np.ndarray:
    """The region of each sample in the (target angle, nearest-other angle) plane.

    The rule of the authors' `sample_dis.py` (strict inequalities, degrees):

        θ_y < low  and θ_other < low   ->  REGION_TYPE2    ("type2_lower_left")
        θ_y > high and θ_other > high  ->  REGION_TYPE1    ("type1_upper_right")
        otherwise                      ->  REGION_CENTRAL  ("central")

    The default thresholds (55°, 87°) were set for the authors' models; for other models,
    look at `plot_angle_scatter` first. A label flip onto another identity (large θ_y, small
    θ_other) stays central under this rule: `noise_score` ranks those too.

    Args:
        angles: The `SampleAngles`.
        low: Lower-left threshold in degrees. Defaults to `55.0`.
        high: Upper-right threshold in degrees. Defaults to `87.0`.

    Returns:
        `(N,)` numpy array of region names (str).

    Example:

    >>> import numpy as np
    >>> angles = SampleAngles(np.array([30.0, 90.0, 40.0]), np.array([50.0, 95.0, 80.0]),
    ...                       np.array([1, 1, 1]))
    >>> classify_regions(angles).tolist()
    ['type2_lower_left', 'type1_upper_right', 'central']
    """
    low, high = check_thresholds(low, high)
    target, other = angles.target_angle, angles.nearest_other_angle
    regions = np.full(len(angles), REGION_CENTRAL, dtype=object)
    regions[(target < low) & (other < low)] = REGION_TYPE2
    regions[(target > high) & (other > high)] = REGION_TYPE1
    return regions.astype(str)
