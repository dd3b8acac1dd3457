"""Acceptance 2: on the unlocked (pipelined) worldsheet with frozen ports, every port effort is
exactly the backprop gradient of the sample it is paired with, once the pipeline is full.

The oracle is ``substrate.backprop`` on that sample alone (or that minibatch), at the same weights.
"""

import numpy as np
import pytest

import substrate
from substrate import datasets, ports

# With the weights frozen the pipelined junction computes the same products as reverse mode on the
# same sample, only at different times: agreement to rounding. 1e-12 is the bound.
TOLERANCE = 1e-12


def _record(net, data, schedule, batch_size, epochs=1):
    rows = []

    def callback(info):
        rows.append((info.step, [e.copy() for e in info.efforts], info.paired))

    substrate.train(net, data, port=ports.Frozen(), schedule=schedule, epochs=epochs, batch_size=batch_size,
                    callbacks=[callback])
    return rows


def _errors(net, data, rows, loss):
    worst_full, worst_fill, full_updates = 0.0, None, 0
    for step, efforts, paired in rows:
        n = step - 1  # update index (0 for the first)
        if n < 2 * net.depth:
            assert any(p is None for p in paired[:1]) or n >= 2 * net.depth - 1
            continue
        full_updates += 1
        for k, indices in enumerate(paired):
            reference = substrate.backprop(net, data.x_train[indices], data.y_train[indices], loss)
            for got, want in zip(efforts[2 * k:2 * k + 2], reference[2 * k:2 * k + 2]):
                worst_full = max(worst_full, float(np.max(np.abs(got - want))))
    return worst_full, full_updates


@pytest.mark.parametrize("sizes, data_name", [([2, 7, 5, 2], "moons"), ([4, 6, 6, 6, 3], "teacher"),
                                              ("residual", "teacher")])
def test_pipelined_efforts_are_per_sample_gradients(sizes, data_name):
    if data_name == "moons":
        data = datasets.moons(n_samples=60, seed=1)
    else:
        width = 3 if sizes == "residual" else 4
        data = datasets.teacher(n_samples=60, sizes=(width, 5, 3), seed=1)
    if sizes == "residual":  # a chain of residual layers (a discretised neural ODE), L = 4
        net = substrate.residual_network(3, 4, step=0.5, seed=3)
    else:
        net = substrate.MLP(sizes, seed=3)
    for layer in net.layers:
        layer.bias[:] = np.random.default_rng(4).standard_normal(layer.n_out) * 0.5
    rows = _record(net, data, "pipelined", batch_size=1)
    worst, updates = _errors(net, data, rows, data.loss)
    print(f"pipelined, L = {net.depth}, batch 1: {updates} full-pipeline updates, max |effort - grad| = {worst:.2e}")
    assert updates == len(data.x_train) - 2 * net.depth
    assert worst <= TOLERANCE
    # junction k at update n pairs sample n - 1 - 2L + k of the stream: every junction sees the same
    # sample at stream position m, and distinct positions hold distinct samples (one epoch)
    stream = [None] * len(rows)
    for s, _, p in rows:
        n = s - 1
        for k, indices in enumerate(p, start=1):
            m = n - 1 - 2 * net.depth + k
            if m >= 0 and indices is not None:
                stream[m] = int(indices[0]) if stream[m] is None else stream[m]
                assert stream[m] == int(indices[0])
    seen = [x for x in stream if x is not None]
    assert len(set(seen)) == len(seen) == len(data.x_train) - 1 - net.depth


def test_pipelined_minibatch_efforts_are_minibatch_gradients():
    data = datasets.moons(n_samples=200, seed=2)
    net = substrate.MLP([2, 8, 8, 2], seed=5)
    rows = _record(net, data, "pipelined", batch_size=8, epochs=2)
    worst, updates = _errors(net, data, rows, "cross_entropy")
    assert updates > 20
    assert worst <= TOLERANCE


def test_naive_pipeline_without_stubs_is_only_approximate():
    data = datasets.moons(n_samples=60, seed=1)
    net = substrate.MLP([2, 7, 5, 2], seed=3)
    rows = _record(net, data, "naive", batch_size=1)
    worst, _ = _errors(net, data, rows, "cross_entropy")
    print(f"naive pipeline: max |effort - grad| = {worst:.2e}")
    assert worst > 1e-2


def test_pipelined_rejects_other_courant_numbers():
    with pytest.raises(substrate.ConfigurationError, match="courant"):
        substrate.train(substrate.MLP([2, 4, 2]), "moons", schedule="pipelined", courant=0.5)


@pytest.mark.parametrize("shift", [-1, 1])
def test_stub_length_is_tight(monkeypatch, shift):
    # one slot fewer or more in every stub pairs a sensitivity with a neighbouring sample's input
    from substrate.learning.schedules import Pipelined

    monkeypatch.setattr(Pipelined, "stub_slots", lambda self, k: 2 * (self.net.depth - k + 1) + shift)
    data = datasets.moons(n_samples=60, seed=1)
    net = substrate.MLP([2, 7, 5, 2], seed=3)
    worst, _ = _errors(net, data, _record(net, data, "pipelined", batch_size=1), "cross_entropy")
    assert worst > 1e-3


def test_input_reflection_is_backprops_input_sensitivity_and_leaving_it_out_changes_no_effort():
    # s_0 = W_1^T (f'_1 * s_1) feeds no parameter port, so train() leaves it out (reflect_input=False).
    # With it, the input port receives backprop's input sensitivity beta dc/da_0 of the minibatch
    # that entered 2L updates before (weights frozen): the same products in the same order as the
    # oracle, hence equal to rounding (1e-12, the bound). Without it, the efforts and every
    # other wave are the same bits (the first junction computes the same f' * s_1 and the same efforts).
    from substrate.learning.schedules import Pipelined
    from substrate.network import get_loss, reference_waves

    loss, beta = get_loss("cross_entropy"), 0.5
    net = substrate.MLP([3, 6, 5, 2], seed=2)
    full, lean = Pipelined(net, loss, beta=beta), Pipelined(net, loss, beta=beta, reflect_input=False)
    state, lean_state = full.initial(4), lean.initial(4)
    assert "backward_0" in state and "backward_0" not in lean_state
    rng = np.random.default_rng(0)
    xs = rng.normal(size=(12, 4, 3))
    targets = np.stack([loss.target(rng.integers(0, 2, 4), 2) for _ in xs])
    for n, (x, target) in enumerate(zip(xs, targets)):
        efforts = full.advance(state, x, target, np.arange(4))
        lean_efforts = lean.advance(lean_state, x, target, np.arange(4))
        for got, want in zip(lean_efforts, efforts, strict=True):
            np.testing.assert_array_equal(got, want)
        for key, value in lean_state.items():
            np.testing.assert_array_equal(value, state[key])
        m = n - 2 * net.depth  # the minibatch whose s_0 leaves the first junction at update n
        if m >= 0:
            oracle = reference_waves(net, xs[m], targets[m], loss, beta).backward[0]
            assert np.max(np.abs(state["backward_0"] - oracle)) <= TOLERANCE


def test_unit_slope_of_a_linear_junction_is_the_same_bits_as_multiplying_by_ones():
    # the pipeline neither computes nor stashes the slope of an identity junction (slope=None):
    # 1.0 * s is s exactly, so reflect_back, efforts and backward equal those with a slope of ones
    from substrate.learning.schedules import Pipelined
    from substrate.network import Dense, get_loss

    rng = np.random.default_rng(1)
    layer = Dense(rng.normal(size=(3, 5)), rng.normal(size=3), "identity")
    a_prev, s = rng.normal(size=(4, 5)), rng.normal(size=(4, 3))
    ones = layer.transmit(a_prev)[1]
    np.testing.assert_array_equal(layer.reflect_back(None, s), layer.reflect_back(ones, s))
    for got, want in zip(layer.efforts(a_prev, None, s), layer.efforts(a_prev, ones, s), strict=True):
        np.testing.assert_array_equal(got, want)
    state = Pipelined(substrate.MLP([2, 4, 2], seed=0), get_loss("mse")).initial(3)
    assert "stub_slope_1" in state and "stub_slope_2" not in state  # tanh hidden, identity output
