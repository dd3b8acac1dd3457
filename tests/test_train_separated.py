"""Acceptance 1: the separated schedule at courant 1 is plain gradient descent / heavy ball, exactly.

The oracle is written here against ``substrate.backprop`` (numpy reverse mode), independent of the
port and schedule code.
"""

import numpy as np
import pytest

import substrate
from substrate import datasets, ports

# 200 updates of O(1) arithmetic: the wave and reverse-mode computations are the same operations in a
# different order, so each update differs by ~1e-16 relative; 1e-10 is the bound and leaves
# four orders of magnitude for accumulation.
TOLERANCE = 1e-10


def _data():
    return datasets.moons(n_samples=120, noise=0.15, seed=3)


def _gradient_descent(net, data, lr, steps, momentum=0.0):
    params = [p.copy() for p in net.params]
    reference = net.copy()
    velocity = [np.zeros_like(p) for p in params]
    for _ in range(steps):
        reference.params = params
        grads = substrate.backprop(reference, data.x_train, data.y_train, "cross_entropy")
        velocity = [momentum * v - lr * g for v, g in zip(velocity, grads)]
        params = [p + v for p, v in zip(params, velocity)]
    return params


def _largest_difference(a, b):
    return max(float(np.max(np.abs(x - y))) for x, y in zip(a, b))


def test_separated_resistive_equals_gradient_descent():
    data = _data()
    net = substrate.MLP([2, 8, 8, 2], seed=1)
    want = _gradient_descent(net, data, lr=0.2, steps=200)
    history = substrate.train(net, data, port=ports.Resistive(5.0), schedule="separated", epochs=200,
                              batch_size=None, courant=1.0)
    assert history.step[-1] == 200
    difference = _largest_difference(net.params, want)
    print(f"separated Resistive vs gradient descent, 200 updates: max |dtheta| = {difference:.2e}")
    assert difference <= TOLERANCE
    assert np.all(np.array(history.reflected_power[1:]) <= 1e-24)  # matched port: (1e-12)^2 on the waves


def test_separated_inertial_equals_heavy_ball():
    data = _data()
    net = substrate.MLP([2, 8, 8, 2], seed=2)
    port = ports.Inertial.from_momentum(0.05, 0.9)
    want = _gradient_descent(net, data, lr=port.learning_rate, momentum=port.momentum, steps=200)
    substrate.train(net, data, port=port, schedule="separated", epochs=200)
    difference = _largest_difference(net.params, want)
    print(f"separated Inertial vs heavy ball, 200 updates: max |dtheta| = {difference:.2e}")
    assert difference <= TOLERANCE


def test_separated_efforts_are_exact_gradients_every_epoch():
    history = substrate.train(substrate.MLP([2, 8, 8, 2], seed=0), _data(), port=ports.Resistive(5.0),
                              epochs=5, batch_size=20, gradient_check=True)
    assert max(history.gradient_error[1:]) <= 1e-12


def test_fewer_wave_steps_than_the_round_trip_are_not_exact():
    # K = 2L - 1 at courant 1 breaks exactness: the light cone has not closed
    data = _data()
    net = substrate.MLP([2, 8, 8, 2], seed=1)
    want = _gradient_descent(net, data, lr=0.2, steps=20)
    substrate.train(net, data, port=ports.Resistive(5.0), epochs=20, wave_steps=2 * net.depth - 1)
    assert _largest_difference(net.params, want) > 1e-4


def test_dyadic_substrate_trains_with_nearly_exact_gradients():
    # continuous-time RC relaxation for 12 L time constants: Erlang tail ~1e-6 relative (rtol 1e-8 solver)
    history = substrate.train(substrate.MLP([2, 6, 2], seed=0), _data(), substrate="dyadic",
                              port=ports.Resistive(5.0), epochs=3, batch_size=40, gradient_check=True)
    assert 0 < max(history.gradient_error[1:]) < 1e-5
    with pytest.raises(substrate.ConfigurationError, match="dyadic"):
        substrate.train(substrate.MLP([2, 6, 2]), _data(), substrate="dyadic", schedule="pipelined")


@pytest.mark.parametrize(
    "options, message",
    [
        ({"epochs": 0}, "epochs = 0"),
        ({"batch_size": 10_000}, "batch_size = 10000 is outside"),
        ({"schedule": "locked"}, "schedule = 'locked'"),
        ({"substrate": "fpga"}, "substrate = 'fpga'"),
        ({"courant": 2.0}, "courant = 2.0"),
        ({"port": ports.GaussNewton(1.0), "schedule": "pipelined"}, "GaussNewton"),
        ({"port": "sgd"}, "port = 'sgd'"),
        ({"resume": True}, "resume=True needs run_dir"),
    ],
)
def test_bad_train_arguments_fail_before_any_work(options, message):
    net = substrate.MLP([2, 4, 2], seed=0)
    before = [p.copy() for p in net.params]
    with pytest.raises(substrate.ConfigurationError, match=message):
        substrate.train(net, _data(), **options)
    assert all(np.array_equal(a, b) for a, b in zip(net.params, before))
    with pytest.raises(substrate.ShapeError, match="does not fit"):
        substrate.train(substrate.MLP([3, 4, 2]), _data())


def test_arrays_as_data():
    data = _data()
    net = substrate.MLP([2, 8, 2], seed=0)
    history = substrate.train(net, (data.x_train, data.y_train, data.x_test, data.y_test), loss="cross_entropy",
                              port=ports.Inertial(10.0, 1.0), epochs=30, batch_size=12)
    assert history.test_accuracy[-1] > 0.9


def test_inertial_port_energy_never_increases_at_wave_equilibrium():
    # physics.md section 5: with exact efforts (separated, full batch), E = C + 1/2 M u^2 with the
    # velocity u = dtheta/dtau does not increase. u is read from the parameter change of each update
    # (u_{n+1} = (theta_{n+1} - theta_n)/dtau for the semi-implicit Euler port), C from the test's own
    # forward pass.
    data = _data()
    mass, dtau = 40.0, 1.0
    net = substrate.MLP([2, 8, 8, 2], seed=0)
    previous = [[p.copy() for p in net.params]]
    energy = [substrate.loss_value(net, data.x_train, data.y_train, "cross_entropy")]

    def callback(info):
        params = [p.copy() for p in info.net.params]
        kinetic = 0.5 * mass * sum(float(np.sum(((p - q) / dtau) ** 2)) for p, q in zip(params, previous[0]))
        energy.append(substrate.loss_value(info.net, data.x_train, data.y_train, "cross_entropy") + kinetic)
        previous[0] = params

    substrate.train(net, data, port=ports.Inertial(mass, 4.0, dtau=dtau), epochs=300, callbacks=[callback])
    increases = np.diff(energy)
    print(f"E from {energy[0]:.4f} to {energy[-1]:.4f}; largest step change {increases.max():.2e}")
    assert increases.max() <= 0.0
    assert energy[-1] < 0.2 * energy[0]
