"""`classify_regions`: the authors' rule, strict at the thresholds."""

import numpy as np
import pytest

from keras_expface.diagnostics import (
    REGION_CENTRAL,
    REGION_TYPE1,
    REGION_TYPE2,
    SampleAngles,
    classify_regions,
)


def make_angles(target, other):
    return SampleAngles(np.array(target, float), np.array(other, float), np.zeros(len(target), int))


def test_regions_and_boundaries():
    angles = make_angles(
        [54.9, 55.0, 54.9, 87.1, 87.0, 87.1, 30.0, 95.0, 0.0, 180.0],
        [54.9, 54.9, 55.0, 87.1, 87.1, 87.0, 95.0, 30.0, 0.0, 180.0],
    )
    expected = [REGION_TYPE2, REGION_CENTRAL, REGION_CENTRAL, REGION_TYPE1, REGION_CENTRAL]
    expected += [REGION_CENTRAL, REGION_CENTRAL, REGION_CENTRAL, REGION_TYPE2, REGION_TYPE1]
    assert classify_regions(angles).tolist() == expected


def test_custom_thresholds():
    angles = make_angles([40.0, 70.0], [40.0, 70.0])
    assert classify_regions(angles, low=45, high=65).tolist() == [REGION_TYPE2, REGION_TYPE1]
    assert classify_regions(angles, low=30, high=80).tolist() == [REGION_CENTRAL] * 2
    with pytest.raises(ValueError, match="low <= high"):
        classify_regions(angles, low=90, high=80)
    with pytest.raises(ValueError, match="low <= high"):
        classify_regions(angles, low=10, high=190)


def test_empty():
    assert classify_regions(make_angles([], [])).shape == (0,)
