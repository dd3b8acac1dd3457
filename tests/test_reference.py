"""Reference backprop and the network description, against central finite differences."""

import numpy as np
import pytest

from substrate import MLP, ConfigurationError, Dense, Network, Residual, ShapeError, backprop, loss_value
from substrate.network import ACTIVATIONS, get_loss


def finite_difference_gradients(net, x, y, loss, eps=1e-6):
    """Central differences of the batch-mean loss; truncation error O(eps^2) ~ 1e-12 relative."""
    gradients = []
    for p in net.params:
        g = np.zeros_like(p)
        for index in np.ndindex(p.shape):
            old = p[index]
            p[index] = old + eps
            plus = loss_value(net, x, y, loss)
            p[index] = old - eps
            minus = loss_value(net, x, y, loss)
            p[index] = old
            g[index] = (plus - minus) / (2 * eps)
        gradients.append(g)
    return gradients


@pytest.mark.parametrize("activation", sorted(set(ACTIVATIONS) - {"relu"}))
@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
def test_backprop_matches_finite_differences(problem, activation, loss):
    net, x, y = problem([3, 4, 5, 3], activation=activation, loss=loss, batch=4, seed=1)
    analytic = backprop(net, x, y, loss)
    numeric = finite_difference_gradients(net, x, y, loss)
    for a, n in zip(analytic, numeric):
        # eps = 1e-6: rounding error ~ 1e-16/1e-6 = 1e-10 absolute; gradients are O(0.01..1)
        np.testing.assert_allclose(a, n, rtol=1e-6, atol=1e-8)


def test_backprop_relu_away_from_kinks(problem):
    net, x, y = problem([3, 6, 2], activation="relu", seed=2)
    z = x @ net.layers[0].weight.T + net.layers[0].bias
    assert np.min(np.abs(z)) > 1e-4  # no kink within the finite-difference step
    for a, n in zip(backprop(net, x, y, "mse"), finite_difference_gradients(net, x, y, "mse")):
        np.testing.assert_allclose(a, n, rtol=1e-6, atol=1e-8)


def test_residual_layers_match_finite_differences():
    rng = np.random.default_rng(3)
    net = Network([Dense(rng.normal(size=(4, 3)), rng.normal(size=4)),
                   Residual(rng.normal(size=(4, 4)) / 2, rng.normal(size=4), "tanh", step=0.3),
                   Residual(rng.normal(size=(4, 4)) / 2, rng.normal(size=4), "softplus", step=0.7),
                   Dense(rng.normal(size=(2, 4)), rng.normal(size=2), "identity")])
    x, y = rng.normal(size=(5, 3)), rng.normal(size=(5, 2))
    for a, n in zip(backprop(net, x, y, "mse"), finite_difference_gradients(net, x, y, "mse")):
        np.testing.assert_allclose(a, n, rtol=1e-6, atol=1e-8)


def test_losses_by_hand():
    a = np.array([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]])
    labels = np.array([1, 2])
    log_softmax = a - np.log(np.exp(a).sum(axis=1, keepdims=True))
    expected = -np.mean([log_softmax[0, 1], log_softmax[1, 2]])
    ce = get_loss("cross_entropy")
    assert ce(a, ce.target(labels, 3)) == pytest.approx(expected, rel=1e-14)
    assert ce(a, ce.target(np.eye(3)[labels], 3)) == pytest.approx(expected, rel=1e-14)
    mse = get_loss("mse")
    y = np.zeros((2, 3))
    assert mse(a, y) == pytest.approx(np.sum(a**2) / (2 * 2), rel=1e-14)


def test_params_assignment_changes_the_network():
    net = MLP([2, 3, 1], seed=0)
    x = np.ones((1, 2))
    before = net.forward(x)
    net.params = [2 * p for p in net.params]
    assert not np.allclose(before, net.forward(x))
    assert [p.shape for p in net.params] == [(3, 2), (3,), (1, 3), (1,)]
    with pytest.raises(ShapeError, match=r"parameter 0 must have shape \(3, 2\)"):
        net.params = [np.zeros((2, 2))] + net.params[1:]


def test_bad_inputs_are_named():
    with pytest.raises(ConfigurationError, match="activation = 'swish'"):
        MLP([2, 2], activation="swish")
    with pytest.raises(ConfigurationError, match="sizes"):
        MLP([2])
    with pytest.raises(ConfigurationError, match=r"labels must lie in \[0, 1\]"):
        backprop(MLP([2, 2]), np.zeros((1, 2)), np.array([2]), "cross_entropy")
    with pytest.raises(ShapeError, match=r"inputs must have shape \(batch, 2\)"):
        MLP([2, 2]).forward(np.zeros((1, 3)))


def test_save_and_load_round_trip(tmp_path):
    from substrate import load_network, save_network

    rng = np.random.default_rng(4)
    net = Network([Dense(rng.normal(size=(3, 2)), rng.normal(size=3), "softplus"),
                   Residual(rng.normal(size=(3, 3)), rng.normal(size=3), "tanh", step=0.25),
                   Dense(rng.normal(size=(1, 3)), rng.normal(size=1), "identity")])
    save_network(net, tmp_path / "net.npz")
    twin = load_network(tmp_path / "net.npz")
    x = rng.normal(size=(4, 2))
    np.testing.assert_array_equal(net.forward(x), twin.forward(x))
    assert repr(net) == repr(twin)
