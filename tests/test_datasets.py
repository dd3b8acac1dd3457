"""Built-in datasets: seeded, split as documented, validated."""

import numpy as np
import pytest

from substrate import datasets
from substrate.errors import ConfigurationError


@pytest.mark.parametrize("name", ["xor", "moons", "circles", "teacher", "digits"])
def test_seeded_and_split(name):
    a, b, c = datasets.load(name, seed=1), datasets.load(name, seed=1), datasets.load(name, seed=2)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    assert not np.array_equal(a.x_train, c.x_train)
    n = len(a.x_train) + len(a.x_test)
    assert abs(len(a.x_test) - 0.3 * n) <= a.n_outputs  # 30 % test (rounded per class)
    assert np.all(np.isfinite(a.x_train))
    if a.classification:
        # stratified: each class has the same share in train and test (to rounding)
        for label in range(a.n_outputs):
            share = np.mean(a.y_train == label) - np.mean(a.y_test == label)
            assert abs(share) < 0.02
        assert set(np.unique(a.y_train)) == set(range(a.n_outputs))
    else:
        assert a.y_train.shape == (len(a.x_train), a.n_outputs)


def test_geometry():
    xor = datasets.xor(noise=0.0)
    assert np.all((np.sign(xor.x_train[:, 0]) != np.sign(xor.x_train[:, 1])) == (xor.y_train == 1))
    circles = datasets.circles(noise=0.0, factor=0.3)
    radius = np.linalg.norm(circles.x_train, axis=1)
    np.testing.assert_allclose(radius, np.where(circles.y_train == 1, 0.3, 1.0))
    digits = datasets.digits()
    assert len(digits.x_train) + len(digits.x_test) == 1797 and digits.x_train.shape[1] == 64
    assert digits.x_train.min() == 0.0 and digits.x_train.max() == 1.0


@pytest.mark.parametrize(
    "name, options, message",
    [
        ("moons", {"noise": -0.1}, "noise"),
        ("moons", {"n_samples": 2}, "n_samples"),
        ("circles", {"factor": 1.5}, "factor"),
        ("xor", {"test_fraction": 1.0}, "test_fraction"),
        ("moons", {"colour": "red"}, "data.colour"),
        ("mnist", {}, "unknown"),
    ],
)
def test_bad_options(name, options, message):
    with pytest.raises(ConfigurationError, match=message):
        datasets.load(name, **options)
