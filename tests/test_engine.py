"""The native engine of the trainer circuits (circuits.native): exactness, order, batch axis, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit

from circuits.junctions import tanh
from circuits.native import (simulate_rc_batch, simulate_rc_trainer, simulate_tline_batch,
                             simulate_tline_trainer)
from conftest import random_problem
from substrate import MLP, Dyadic, backprop
from substrate.errors import ConfigurationError, NumericalError
from substrate.network import get_loss, reference_waves

XOR_X = np.array([[-1.0, -1.0], [-1.0, 1.0], [1.0, -1.0], [1.0, 1.0]])
XOR_Y = np.array([0.0, 1.0, 1.0, 0.0])


@njit
def _tanh_array(z):
    out = np.empty_like(z)
    for r in range(z.size):
        out[r] = tanh(z[r])
    return out


def test_compiled_tanh_matches_numpy_to_a_few_ulp():
    tiny = np.geomspace(1e-300, 1.0, 2001)
    z = np.concatenate([np.linspace(-25.0, 25.0, 200_001), tiny, -tiny, [0.0, 19.0, 40.0, -700.0, 1e300]])
    expected = np.tanh(z)
    relative = np.abs(_tanh_array(z) - expected) / np.maximum(np.abs(expected), 1e-300)
    # a few ulp (2.2e-16 each): the expm1 polynomial and one division; measured 3.9e-16 (2 ulp)
    assert np.max(relative) <= 1e-15


# --- acceptance 2: the frozen trainer returns backprop after the round trip ---------------------------
@pytest.mark.parametrize("depth", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("activation, loss", [("tanh", "mse"), ("sigmoid", "cross_entropy")])
def test_frozen_tline_trainer_backward_waves_equal_backprop_after_2L(depth, activation, loss):
    sizes = [3] + [4] * (depth - 1) + [2]
    net, x, y = random_problem(sizes, activation=activation, loss=loss, batch=3, seed=depth)
    trajectory = simulate_tline_trainer(net, x, y, loss=loss, td=1e-9, t_stop=(2 * depth + 2) * 1e-9, steps_per_td=2)
    loss_object = get_loss(loss)
    reference = reference_waves(net, x, loss_object.target(y, 2), loss_object)
    t = trajectory.t / 1e-9
    after = t >= 2 * depth - 1e-9
    for k in range(depth):
        scale = max(1.0, float(np.max(np.abs(reference.backward[k + 1]))))
        # the same arithmetic as backprop in another order: rounding only (measured 2e-16)
        assert np.max(np.abs(trajectory.s[k][after] - reference.backward[k + 1])) <= 1e-10 * scale
        assert np.max(np.abs(trajectory.a[k][after] - reference.forward[k + 1])) <= 1e-10
    # 2L is tight: half a delay earlier the first junction's sensitivity has not arrived complete
    before = np.isclose(t, 2 * depth - 0.5)
    first = float(np.max(np.abs(reference.backward[1])))
    # measured >= 8.6e-4 relative (a deep sigmoid chain attenuates the missing part), against 1e-16 after 2L
    assert np.max(np.abs(trajectory.s[0][before] - reference.backward[1])) > 1e-4 * first
    # and the port efforts built from those waves are backprop's gradients
    delta = trajectory.s[0][-1] * net.layers[0].transmit(x)[1]
    np.testing.assert_allclose(delta.T @ x / len(x), backprop(net, x, y, loss)[0], rtol=0, atol=1e-10)


@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
def test_frozen_rc_trainer_equals_dyadic_integrate(loss):
    net, x, y = random_problem([3, 4, 2], loss=loss, batch=3, seed=6)
    trajectory = simulate_rc_trainer(net, x, y, loss=loss, tau=1e-6, t_stop=16e-6)
    solution = Dyadic(net, loss, tau=1e-6).integrate(x, y, 16e-6, t_eval=trajectory.t)
    worst = 0.0
    for waves, attribute in ((trajectory.a, "forward"), (trajectory.s, "backward")):
        for k, wave in enumerate(waves):
            expected = np.array([getattr(state, attribute)[k + 1] for state in solution.states])
            worst = max(worst, float(np.max(np.abs(wave - expected))))
    # RK4 at tau/50 against solve_ivp at rtol 1e-10: measured 2.6e-9
    assert worst <= 1e-8


# --- acceptance 4: the stated order -------------------------------------------------------------------
def _xor_run(steps_per_td, **ports):
    net = MLP([2, 3, 1], "tanh", seed=3)
    return simulate_tline_trainer(net, XOR_X, XOR_Y, td=1e-9, t_stop=40e-9, steps_per_td=steps_per_td, **ports)


@pytest.mark.parametrize("ports", [dict(learning_rate=0.2e9, leak_rate=1e7),
                                   dict(inertia_rate=4e16, friction_rate=2e8, leak_rate=1e7)],
                         ids=["resistive", "inertial"])
def test_tline_engine_is_fourth_order_across_the_wave_fronts(ports):
    reference = _xor_run(32, **ports)
    errors = []
    for steps in (1, 2, 4, 8):
        run = _xor_run(steps, **ports)
        errors.append(max(float(np.max(np.abs(p - q[::32 // steps]))) for p, q in zip(run.params, reference.params)))
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    # RK4 with the jumps of the first round trip on grid points: order 4 (measured 3.98 to 4.08); a scheme
    # that averaged across the fronts (the former Heun step) measured order 1 here
    assert np.all(orders[1:] > 3.7) and np.all(orders < 4.4), orders


def test_rc_engine_is_fourth_order():
    net, x, y = random_problem([2, 3, 1], batch=4, seed=7)
    run = lambda step: simulate_rc_trainer(net, x, y, tau=1.0, t_stop=8.0, step=step, learning_rate=0.5)  # noqa: E731
    reference = run(1.0 / 128)
    errors = [max(float(np.max(np.abs(p[-1] - q[-1]))) for p, q in zip(run(h).params, reference.params))
              for h in (1.0 / 4, 1.0 / 8, 1.0 / 16)]
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert np.all(orders > 3.7) and np.all(orders < 4.4), orders  # classical RK4 on a smooth ODE


# --- the batch axis ---------------------------------------------------------------------------------
@pytest.mark.parametrize("block", [None, 1, 2])
def test_batch_of_instances_equals_each_instance_alone(block):
    nets = [MLP([2, 3, 1], "tanh", seed=seed) for seed in range(5)]
    rates = np.array([0.1e9, 0.2e9, 0.3e9, 0.15e9, 0.25e9])
    betas = np.array([1.0, 0.5, 2.0, 1.0, 1.5])
    batch = simulate_tline_batch(nets, XOR_X, XOR_Y, beta=betas, t_stop=30e-9, learning_rate=rates, leak_rate=1e6,
                                 block=block)
    for p, net in enumerate(nets):
        alone = simulate_tline_trainer(net, XOR_X, XOR_Y, beta=betas[p], t_stop=30e-9, learning_rate=rates[p],
                                       leak_rate=1e6)
        # the same operations on other lanes: equal to rounding (the batch-mean order is the same)
        for q, r in zip(batch.instance(p).params + [batch.instance(p).loss], alone.params + [alone.loss]):
            np.testing.assert_allclose(q, r, rtol=0, atol=1e-13)
        for w, v in zip(batch.instance(p).s, alone.s):
            np.testing.assert_allclose(w, v, rtol=0, atol=1e-13)


def test_rc_batch_of_instances_equals_each_instance_alone():
    nets = [MLP([2, 3, 1], "tanh", seed=seed) for seed in range(3)]
    taus = np.array([1e-6, 2e-6, 0.5e-6])
    batch = simulate_rc_batch(nets, XOR_X, XOR_Y, tau=taus, t_stop=4e-6, step=2.5e-8, learning_rate=2e5)
    for p, net in enumerate(nets):
        alone = simulate_rc_trainer(net, XOR_X, XOR_Y, tau=taus[p], t_stop=4e-6, step=2.5e-8, learning_rate=2e5)
        for q, r in zip(batch.instance(p).params + batch.instance(p).a, alone.params + alone.a):
            np.testing.assert_allclose(q, r, rtol=0, atol=1e-13)


def test_native_trainer_descends_the_loss_like_gradient_descent():
    # slow ports (lr 1e-3 per delay): the circuit follows gradient flow on the batch-mean loss
    net = MLP([2, 3, 1], "tanh", seed=3)
    run = simulate_tline_trainer(net, XOR_X, XOR_Y, td=1.0, t_stop=400.0, learning_rate=1e-3)
    flow = net.copy()
    for _ in range(400 - 5):  # efforts are exact from 2L = 4 delays on; Euler steps of one delay
        flow.params = [p - 1e-3 * g for p, g in zip(flow.params, backprop(flow, XOR_X, XOR_Y, "mse"))]
    # the circuit lags by the round trip, integrates partial efforts during it, and flows continuously
    # where the reference takes Euler steps: measured 4.7e-4 while the weights moved 0.13
    assert np.max(np.abs(run.params[0][-1] - flow.params[0])) < 2e-3
    assert run.loss[-1] < run.loss[5]


# --- bad input ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, message", [
    (dict(td=0.0), "td = 0.0 is outside"),
    (dict(td=-1e-9), "td = -1e-09 is outside"),
    (dict(steps_per_td=0), "steps_per_td = 0 is outside"),
    (dict(steps_per_td=2.5), "steps_per_td = 2.5 must be a whole number"),
    (dict(learning_rate=-1.0), "learning_rate = -1.0 is outside"),
    (dict(learning_rate=np.array([1.0, 2.0])), r"learning_rate must be a number or an array of shape \(1,\)"),
    (dict(beta=0.0), r"beta = 0.0 is outside the valid range \(0, inf\)"),
    (dict(t_stop=1e-12), "t_stop = 1e-12 s is shorter than one grid step"),
    (dict(record_every=0), "record_every = 0 is outside"),
])
def test_tline_engine_rejects_bad_input_before_work(kwargs, message):
    net = MLP([2, 3, 1], seed=0)
    with pytest.raises(ConfigurationError, match=message):
        simulate_tline_trainer(net, XOR_X, XOR_Y, **kwargs)


def test_batch_rejects_bad_instance_sets():
    with pytest.raises(ConfigurationError, match="nets holds 0 instances"):
        simulate_tline_batch([], XOR_X, XOR_Y)
    with pytest.raises(ConfigurationError, match="instance 1 has sizes"):
        simulate_tline_batch([MLP([2, 3, 1], seed=0), MLP([2, 4, 1], seed=0)], XOR_X, XOR_Y)
    with pytest.raises(ConfigurationError, match="block = 0 is outside"):
        simulate_tline_batch([MLP([2, 3, 1], seed=0)], XOR_X, XOR_Y, block=0)
    with pytest.raises(ConfigurationError, match="tau = -1.0 is outside"):
        simulate_rc_batch(MLP([2, 3, 1], seed=0), XOR_X, XOR_Y, tau=-1.0)
    with pytest.raises(ConfigurationError, match="step = 0.0 is outside"):
        simulate_rc_trainer(MLP([2, 3, 1], seed=0), XOR_X, XOR_Y, step=0.0)


def test_diverging_trainer_raises_numerical_error_naming_the_time():
    net = MLP([2, 3, 1], "identity", seed=0)
    with pytest.raises(NumericalError, match=r"non-finite at t = .* s \(step \d+\)"):
        simulate_tline_trainer(net, XOR_X * 1e3, XOR_Y, td=1.0, t_stop=400.0, learning_rate=10.0)


def test_a_runaway_circuit_is_an_error_not_a_result():
    """Finite but diverging runs raise NumericalError naming the time (before: loss 3.7e99 returned)."""
    from substrate.errors import NumericalError

    net = MLP([2, 3, 1], "tanh", seed=3)
    x = np.array([[-1.0, -1.0], [-1.0, 1.0], [1.0, -1.0], [1.0, 1.0]])
    y = np.array([0.0, 1.0, 1.0, 0.0])
    with pytest.raises(NumericalError, match=r"diverging at t = .* s, instance 0"):
        simulate_tline_trainer(net, x, y, td=1e-9, t_stop=200e-9, learning_rate=1e9)
    simulate_tline_trainer(net, x, y, td=1e-9, t_stop=200e-9, learning_rate=2e8)  # the benchmark's rate: fine
    with pytest.raises(ConfigurationError, match="record_every = 2.5 must be a whole number"):
        simulate_tline_trainer(net, x, y, td=1e-9, record_every=2.5)


def test_rc_step_beyond_rk4_stability_is_refused_before_work():
    from circuits.native import simulate_rc_batch

    net = MLP([2, 3, 1], "tanh", seed=3)
    x = np.array([[-1.0, -1.0], [1.0, 1.0]])
    y = np.array([0.0, 1.0])
    # 2.78 tau is the edge of RK4's real stability interval (2.785); 3 tau diverged to loss 2e96 before
    with pytest.raises(ConfigurationError, match=r"step = 3e-06 s exceeds the RK4 stability limit 2.78 tau"):
        simulate_rc_batch([net], x, y, tau=1e-6, step=3e-6, t_stop=1e-3)
