"""Level 0: the discrete worldsheet against reference backprop (physics.md, section 3)."""

import numpy as np
import pytest

from substrate import ConfigurationError, Dyadic, SubstrateWarning, Worldsheet, backprop, gradient_error
from substrate.network import ACTIVATIONS

WIDTHS = [3, 7, 2, 5, 4, 6, 3]


def first_layer_error(state, reference):
    return gradient_error(state.gradients[:2], reference[:2])


@pytest.mark.parametrize("depth", range(1, 7))
@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
def test_exact_after_2L_unit_steps_from_random_waves(problem, depth, activation, loss):
    sizes = WIDTHS[: depth + 1]
    net, x, y = problem(sizes, activation=activation, loss=loss, batch=4, seed=10 * depth)
    if activation == "relu":  # keep units alive: a dead layer makes the gradient identically zero
        for layer in net.layers:
            layer.bias[:] = 1.0 + np.abs(layer.bias)
    assert min(np.linalg.norm(g) for g in backprop(net, x, y, loss)[:2]) > 1e-6  # a generic network
    reference = backprop(net, x, y, loss)
    for substrate in (Worldsheet(net, loss, courant=1.0), Dyadic(net, loss)):
        relax = substrate.relax if isinstance(substrate, Worldsheet) else substrate.euler
        exact = relax(x, y, 2 * depth, init="random", rng=depth)
        # identical arithmetic to backprop at nu = 1: only rounding differences (~1e-16) remain
        assert gradient_error(exact.gradients, reference) <= 1e-12
        early = relax(x, y, 2 * depth - 1, init="random", rng=depth)
        # 2L is tight: one step earlier the first layer has not yet seen the loss port's reflection
        assert first_layer_error(early, reference) > 1e-3


@pytest.mark.parametrize("depth", [1, 3, 5])
def test_light_cone_per_link(problem, depth):
    net, x, y = problem(WIDTHS[: depth + 1], batch=3, seed=depth)
    history = Worldsheet(net, "mse").relax(x, y, 2 * depth + 3, init="random", rng=0, record=True).history
    exact = 1e-12
    for k in range(1, depth + 1):
        assert history.forward_error[k:, k].max() <= exact, f"forward wave of link {k} exact from step {k}"
        assert history.forward_error[k - 1, k] > 1e-6, f"forward wave of link {k} not exact before step {k}"
    for k in range(0, depth + 1):
        arrival = 2 * depth + 1 - k
        assert history.backward_error[arrival:, k].max() <= exact, f"backward wave of link {k} from {arrival}"
        assert history.backward_error[arrival - 1, k] > 1e-6, f"backward wave of link {k} not before {arrival}"
    assert history.gradient_error[2 * depth:].max() <= exact
    assert history.gradient_error[2 * depth - 1] > 1e-3


def test_exactness_does_not_depend_on_beta(problem):
    net, x, y = problem([4, 6, 5, 2], seed=3)
    reference = backprop(net, x, y, "mse")
    for beta in (1e-3, 0.5, 20.0):
        state = Worldsheet(net, "mse", beta=beta).relax(x, y, 6, init="random", rng=1)
        assert gradient_error(state.gradients, reference) <= 1e-12
        np.testing.assert_allclose(state.backward[-1], beta * (state.forward[-1] - y), rtol=1e-13)


@pytest.mark.parametrize("courant", [0.3, 0.5, 0.9, 1.5])
def test_converges_for_courant_in_0_2(problem, courant):
    net, x, y = problem([3, 5, 4, 2], activation="sigmoid", batch=6, seed=4)
    reference = backprop(net, x, y, "mse")
    # error ~ |1 - nu|^n times a degree-2L polynomial in n: 400 steps leave < 1e-30 * n^6 at nu = 0.3
    steps = 400
    with pytest.warns(SubstrateWarning) if courant > 1 else _no_warning():
        sheet_state = Worldsheet(net, "mse", courant=courant).relax(x, y, steps, init="random", rng=2)
    assert gradient_error(sheet_state.gradients, reference) <= 1e-10
    with pytest.warns(SubstrateWarning) if courant > 1 else _no_warning():
        euler_state = Dyadic(net, "mse").euler(x, y, steps, h=courant, init="random", rng=2)
    assert gradient_error(euler_state.gradients, reference) <= 1e-10
    # Euler of the lumped RC network is the worldsheet iteration (same Courant number)
    for a, b in zip(sheet_state.forward + sheet_state.backward, euler_state.forward + euler_state.backward):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_large_courant_shows_transient_growth(problem):
    net, x, y = problem([3, 5, 5, 5, 2], seed=5)
    with pytest.warns(SubstrateWarning):
        history = Worldsheet(net, "mse", courant=1.8).relax(x, y, 60, init="zeros", record=True).history
    assert history.gradient_error.max() > 10 * history.gradient_error[0]


class _no_warning:
    def __enter__(self):
        import warnings

        self._catch = warnings.catch_warnings()
        self._catch.__enter__()
        warnings.simplefilter("error", SubstrateWarning)

    def __exit__(self, *exc):
        return self._catch.__exit__(*exc)


@pytest.mark.parametrize("courant", [0.0, -0.5, 2.0, 2.5, float("nan")])
def test_courant_outside_0_2_is_refused(problem, courant):
    net, _, _ = problem([2, 2])
    with pytest.raises(ValueError, match=r"courant = .* outside the valid range \(0.0, 2.0\)"):
        Worldsheet(net, "mse", courant=courant)
    with pytest.raises(ConfigurationError, match=r"h = .* outside the valid range \(0.0, 2.0\)"):
        Dyadic(net, "mse").euler(np.zeros((1, 2)), np.zeros((1, 2)), 1, h=courant)


def test_relaxation_continues_from_a_state(problem):
    net, x, y = problem([3, 4, 4, 2], seed=6)
    sheet = Worldsheet(net, "mse", courant=0.7)
    whole = sheet.relax(x, y, 9, init="random", rng=3)
    part = sheet.relax(x, y, 4, init="random", rng=3)
    continued = sheet.relax(x, y, 5, state=part)
    assert continued.time == 9
    for a, b in zip(whole.backward, continued.backward):
        np.testing.assert_array_equal(a, b)
