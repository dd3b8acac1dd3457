"""Level 1: the lumped dyadic relaxation (physics.md, section 4)."""

import numpy as np
import pytest
from scipy.stats import poisson

from substrate import MLP, Dyadic, WaveState, backprop, gradient_error, loss_value
from substrate.network import get_loss
from substrate.network.backprop import reference_waves


@pytest.mark.parametrize("depth", [3, 4])
def test_continuous_time_is_only_asymptotically_exact(problem, depth):
    net, x, y = problem([3, 5, 4, 4, 3][: depth + 1], batch=4, seed=depth)
    reference = backprop(net, x, y, "mse")
    L = depth
    solution = Dyadic(net, "mse").integrate(x, y, 12 * L, t_eval=[2 * L, 12 * L], rtol=1e-12, atol=1e-14)
    at_light_cone, late = (gradient_error(s.gradients, reference) for s in solution.states)
    # Erlang tail of a 2L-long chain: P(Poisson(2L) < 2L) ~ 0.4 at t = 2L tau, ~1e-10 at 12L tau (L = 3)
    assert at_light_cone > 0.05
    assert late < 1e-8


def test_linear_network_follows_the_erlang_closed_form():
    rng = np.random.default_rng(7)
    net = MLP([3, 4, 4, 4, 2], activation="identity", seed=rng)
    net.layers[0].bias[:] = rng.standard_normal(4)  # later biases stay 0 for the closed form
    x, y = rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
    fixed = reference_waves(net, x, get_loss("mse").target(y, 2), get_loss("mse"))
    times = np.linspace(0.5, 10.0, 12)
    solution = Dyadic(net, "mse", tau=2.0).integrate(x, y, 20.0, t_eval=2.0 * times, rtol=1e-12, atol=1e-14)
    for t, state in zip(times, solution.states):
        for k in range(1, net.depth + 1):
            # a_k(t) = a_k* (1 - e^{-t/tau} sum_{j<k} (t/tau)^j / j!) = a_k* P(Poisson(t/tau) >= k)
            expected = fixed.forward[k] * poisson.sf(k - 1, t)
            np.testing.assert_allclose(state.forward[k], expected, rtol=0, atol=1e-8)


def test_gradient_at_the_saddle_is_local_and_matches_finite_differences(problem):
    beta = 0.37
    net, x, y = problem([3, 4, 3], activation="softplus", loss="cross_entropy", batch=5, seed=8)
    dyadic = Dyadic(net, "cross_entropy", beta=beta)
    saddle = dyadic.euler(x, y, 2 * net.depth)
    # the saddle energy equals beta C there (every residual F vanishes)
    assert dyadic.energy(saddle, y=y) == pytest.approx(beta * loss_value(net, x, y, "cross_entropy"), rel=1e-13)
    eps = 1e-6
    for p, g in zip(net.params, saddle.gradients):
        for index in np.ndindex(p.shape):
            old = p[index]
            p[index] = old + eps
            up_loss, up_energy = loss_value(net, x, y, "cross_entropy"), dyadic.energy(saddle, y=y)
            p[index] = old - eps
            down_loss, down_energy = loss_value(net, x, y, "cross_entropy"), dyadic.energy(saddle, y=y)
            p[index] = old
            # central differences: truncation O(eps^2), rounding ~1e-10 absolute
            assert g[index] == pytest.approx((up_loss - down_loss) / (2 * eps), rel=1e-6, abs=1e-9)
            assert g[index] == pytest.approx((up_energy - down_energy) / (2 * eps * beta), rel=1e-6, abs=1e-9)


def test_vector_field_is_the_saddle_gradient_of_the_energy(problem):
    """tau da+/dt = d phi_n/da-, tau da-/dt = d phi_n/da+ (per sample: N times the batch-mean Phi)."""
    net, x, y = problem([2, 3, 3, 2], activation="tanh", batch=3, seed=9)
    dyadic = Dyadic(net, "mse", beta=1.7)
    rng = np.random.default_rng(0)
    state = WaveState([x] + [rng.standard_normal((3, n)) for n in net.sizes[1:]],
                      [rng.standard_normal((3, n)) for n in net.sizes])
    d_plus, d_minus, _ = dyadic.vector_field(state, y)
    batch, eps = len(x), 1e-6
    for waves, field in ((state.backward, d_plus), (state.forward, d_minus)):
        for k in range(1, net.depth + 1):
            for index in np.ndindex(waves[k].shape):
                old = waves[k][index]
                waves[k][index] = old + eps
                up = dyadic.energy(state, y=y)
                waves[k][index] = old - eps
                down = dyadic.energy(state, y=y)
                waves[k][index] = old
                assert field[k - 1][index] == pytest.approx(batch * (up - down) / (2 * eps), rel=1e-6, abs=1e-8)


def test_integrate_accepts_any_solve_ivp_method(problem):
    net, x, y = problem([2, 4, 1], batch=3, seed=11)
    reference = backprop(net, x, y, "mse")
    for method in ("RK45", "DOP853", "Radau", "LSODA"):
        solution = Dyadic(net, "mse").integrate(x, y, 40.0, method=method, rtol=1e-11, atol=1e-13)
        assert gradient_error(solution.gradients, reference) < 1e-7, method
