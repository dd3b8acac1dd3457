"""The continuum worldsheet (physics.md, section 6) against the neural ODE and the dyadic relaxation."""

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from substrate import Dyadic, backprop, residual_network
from substrate.distributed import ContinuumWorldsheet
from substrate.errors import ConfigurationError


def residual_problem(width=3, depth=3, step=1.0, batch=4, seed=0, activation="tanh"):
    rng = np.random.default_rng(seed)
    net = residual_network(width, depth, activation, step, seed=rng)
    for layer in net.layers:
        layer.weight *= 0.8
        layer.bias[:] = 0.3 * rng.standard_normal(width)
    return net, rng.standard_normal((batch, width)), rng.standard_normal((batch, width))


def neural_ode_reference(net, x, y):
    """Neural ODE da/ds = tanh(W_k a + b_k) per layer; adjoint and parameter gradients of the MSE,
    integrated by solve_ivp (forward pass, then a, lambda and the gradients backward together)."""
    batch, n = x.shape
    a = x.copy()
    for layer in net.layers:  # forward, layer by layer (theta constant inside a layer)
        rhs = lambda s, v, W=layer.weight, b=layer.bias: np.tanh(v.reshape(batch, n) @ W.T + b).ravel()
        a = solve_ivp(rhs, (0, layer.step), a.ravel(), method="DOP853", rtol=1e-13, atol=1e-14).y[:, -1].reshape(batch, n)
    output = a.copy()
    lam = a - y  # per-sample dc/da of c = 1/2 ||a - y||^2
    gradients = []
    for layer in reversed(net.layers):
        W, b = layer.weight, layer.bias

        def backward(s, v, W=W, b=b):
            a, lam = v[: batch * n].reshape(batch, n), v[batch * n: 2 * batch * n].reshape(batch, n)
            z = a @ W.T + b
            d = (1 - np.tanh(z) ** 2) * lam
            # in reversed depth r = -s: da/dr = -F, dlam/dr = +J^T lam, dG/dr = lam^T dF/dtheta
            return np.concatenate([-np.tanh(z).ravel(), (d @ W).ravel(), (d.T @ a / batch).ravel(), d.mean(0)])

        v0 = np.concatenate([a.ravel(), lam.ravel(), np.zeros(n * n + n)])
        v = solve_ivp(backward, (0, layer.step), v0, method="DOP853", rtol=1e-13, atol=1e-14).y[:, -1]
        a, lam = v[: batch * n].reshape(batch, n), v[batch * n: 2 * batch * n].reshape(batch, n)
        gradients = [v[2 * batch * n: 2 * batch * n + n * n].reshape(n, n), v[-n:]] + gradients
    return gradients, lam, output


def max_error(efforts, reference):
    return max(np.max(np.abs(e - r)) for e, r in zip(efforts, reference))


def test_rest_state_is_the_neural_ode_forward_and_adjoint():
    net, x, y = residual_problem()
    reference, input_adjoint, output = neural_ode_reference(net, x, y)
    sheet = ContinuumWorldsheet(net, "mse", cells_per_layer=24, scheme="rk4")
    rest = sheet.rest(x, y)
    # RK4 cells: O(ds^4) with ds = 1/24, measured 4.5e-8 (gradients of size 1.6); the issue asks 1e-6
    assert max_error(rest.gradients, reference) < 1e-6
    np.testing.assert_allclose(rest.backward[-1, 0], input_adjoint, atol=1e-6)
    np.testing.assert_allclose(rest.forward[-1, -1], output, atol=1e-6)  # the neural-ODE forward solution
    np.testing.assert_allclose(rest.backward[-1, -1], output - y, atol=1e-6)  # the loss port's reflection
    # the same rest state reached by solve_ivp in tau (the unclocked substrate): Erlang tail of a
    # 2N-long chain, at t = 4N cell times it is ~1e-13 from the rest state (measured); 16 cells per
    # layer put the rest state 2.3e-7 from the neural ODE
    relaxed = ContinuumWorldsheet(net, "mse", cells_per_layer=16, scheme="rk4", speed=2.0)
    N, ds = relaxed.n_cells, 1.0 / 16
    solution = relaxed.integrate(x, y, 4 * N * ds / 2.0, rtol=1e-10, atol=1e-13)
    assert max_error(solution.gradients, relaxed.rest(x, y).gradients) < 1e-9
    assert max_error(solution.gradients, reference) < 1e-6


def test_euler_cells_converge_to_the_adjoint_at_first_order():
    net, x, y = residual_problem(seed=1)
    reference, _, _ = neural_ode_reference(net, x, y)
    errors = [max_error(ContinuumWorldsheet(net, "mse", cells_per_layer=m).rest(x, y).gradients, reference)
              for m in (8, 16, 32)]
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert np.all((orders > 0.9) & (orders < 1.1)), orders
    rk4 = [max_error(ContinuumWorldsheet(net, "mse", cells_per_layer=m, scheme="rk4").rest(x, y).gradients, reference)
           for m in (2, 4)]
    assert np.log2(rk4[0] / rk4[1]) > 3.7


def test_one_cell_per_layer_is_the_dyadic_relaxation():
    net, x, y = residual_problem(depth=4, step=0.5, seed=2)
    c = 3.0
    times = np.array([0.1, 0.5, 1.0, 2.0, 4.0])
    sheet = ContinuumWorldsheet(net, "mse", beta=0.7, speed=c, cells_per_layer=1)
    ours = sheet.integrate(x, y, 4.0, t_eval=times, rtol=1e-11, atol=1e-13)
    dyadic = Dyadic(net, "mse", beta=0.7, tau=0.5 / c).integrate(x, y, 4.0, t_eval=times, rtol=1e-11, atol=1e-13)
    for k, state in enumerate(dyadic.states):
        # two solve_ivp runs of the same ODE at rtol 1e-11: agreement to ~1e-10
        np.testing.assert_allclose(ours.forward[k], np.array(state.forward), atol=1e-8)
        np.testing.assert_allclose(ours.backward[k], np.array(state.backward), atol=1e-8)
        assert max_error(ours.efforts[k], state.gradients) < 1e-8
    # the rest state of one cell per layer is backprop of the residual network itself
    exact = backprop(net, x, y, "mse")
    assert max_error(ContinuumWorldsheet(net, "mse", cells_per_layer=1).rest(x, y).gradients, exact) < 1e-12


def test_characteristic_shift_is_exact_from_step_2n_and_not_before():
    net, x, y = residual_problem(depth=2, seed=3)
    sheet = ContinuumWorldsheet(net, "mse", cells_per_layer=3)
    history = sheet.characteristic(x, y, steps=14, record=True)
    reference = sheet.rest(x, y).gradients
    errors = [max_error(e, reference) for e in history.efforts]
    N = sheet.n_cells
    assert errors[2 * N] < 1e-14 and max(errors[2 * N:]) < 1e-14
    assert errors[2 * N - 1] > 1e-6  # the light cone of the round trip is tight
    # the waves read as a telegrapher line: V = a + s, I = (a - s)/Z
    np.testing.assert_allclose(history.voltage, history.forward + history.backward)


def test_bad_input():
    net, x, y = residual_problem()
    with pytest.raises(ConfigurationError, match="cells_per_layer"):
        ContinuumWorldsheet(net, cells_per_layer=0)
    with pytest.raises(ConfigurationError, match="scheme"):
        ContinuumWorldsheet(net, scheme="rk2")
    from substrate import MLP
    with pytest.raises(ConfigurationError, match="residual"):
        ContinuumWorldsheet(MLP([3, 3, 3]))
