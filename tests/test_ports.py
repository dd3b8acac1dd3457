"""Parameter ports (physics.md section 5): port laws, power bookkeeping, device limits, Gauss-Newton."""

import numpy as np
import pytest

import substrate
from substrate import ports
from substrate.errors import ConfigurationError
from substrate.network import get_loss

# Tolerances: every check below is a few floating-point operations on O(1) numbers, so 1e-13 absolute
# (a hundred ulps) leaves room for reassociation and nothing else.
TIGHT = 1e-13


def _arrays(seed=0):
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal((3, 2)), rng.standard_normal(3)]
    efforts = [rng.standard_normal((3, 2)), rng.standard_normal(3)]
    return params, efforts


def test_resistive_is_gradient_descent_with_zero_reflection():
    params, efforts = _arrays()
    port = ports.Resistive(4.0, dtau=0.5)
    assert port.learning_rate == 0.125
    state, power = port.step(port.initial_state(params), efforts)
    for new, old, e in zip(port.parameters(state), params, efforts):
        np.testing.assert_allclose(new, old - 0.125 * e, rtol=0, atol=TIGHT)
    # matched: the flow is e/R, so b = (e - R v)/(2 sqrt R) vanishes and e.v = |e|^2 / R
    assert np.all(power.reflected <= 1e-28)
    np.testing.assert_allclose(power.absorbed, [np.sum(e * e) / 4.0 for e in efforts], rtol=1e-12)
    np.testing.assert_allclose(power.incident - power.reflected, power.absorbed, rtol=1e-12)


def test_inertial_mapping_to_heavy_ball_and_reflection():
    params, efforts = _arrays(1)
    mass, resistance, dtau = 8.0, 3.0, 0.5
    port = ports.Inertial(mass, resistance, dtau=dtau)
    assert port.momentum == pytest.approx(1 - dtau * resistance / mass, abs=1e-15)
    assert port.learning_rate == pytest.approx(dtau**2 / mass, abs=1e-15)
    twin = ports.Inertial.from_momentum(port.learning_rate, port.momentum, dtau=dtau)
    assert twin.mass == pytest.approx(mass) and twin.resistance == pytest.approx(resistance)
    # heavy ball written out: d_{n+1} = mu d_n - lr e, theta += d; the effort changes each step
    state = port.initial_state(params)
    theta, delta = [p.copy() for p in params], [np.zeros_like(p) for p in params]
    rng = np.random.default_rng(2)
    reflected = []
    for _ in range(5):
        e = [rng.standard_normal(p.shape) for p in params]
        state, power = port.step(state, e)
        delta = [port.momentum * d - port.learning_rate * g for d, g in zip(delta, e)]
        theta = [t + d for t, d in zip(theta, delta)]
        reflected.append(power.reflected.sum())
        np.testing.assert_allclose(power.incident - power.reflected, power.absorbed, rtol=1e-10, atol=1e-14)
    for got, want in zip(port.parameters(state), theta):
        np.testing.assert_allclose(got, want, rtol=0, atol=TIGHT)
    assert min(reflected) > 1e-3  # the mass reflects the inertial force M dv/dtau


def test_leak_is_weight_decay_and_combines():
    params, efforts = _arrays(3)
    port = ports.Resistive(2.0) + ports.Leak(0.1)
    assert isinstance(port, ports.Resistive) and port.leak == 0.1
    assert (ports.Leak(0.1) + ports.Resistive(2.0)).leak == 0.1
    state, power = port.step(port.initial_state(params), efforts)
    for new, old, e in zip(port.parameters(state), params, efforts):
        np.testing.assert_allclose(new, old - 0.5 * (e + 0.1 * old), rtol=0, atol=TIGHT)
    assert power.reflected.sum() > 1e-4  # the leak is not matched to the network effort


def test_bounds_and_levels():
    port = ports.Resistive(1.0, bounds=(-1.0, 1.0), levels=5)  # levels -1, -0.5, 0, 0.5, 1
    params = [np.array([0.9, -3.0, 0.2])]
    state = port.initial_state(params)
    np.testing.assert_array_equal(port.parameters(state)[0], [1.0, -1.0, 0.0])
    state, _ = port.step(state, [np.array([0.0, 0.0, -0.2])])  # latent 0.2 -> 0.4: nearest level 0.5
    np.testing.assert_array_equal(port.parameters(state)[0], [1.0, -1.0, 0.5])
    state, _ = port.step(state, [np.array([-5.0, 5.0, 0.0])])  # pushes beyond the bounds are clipped
    np.testing.assert_array_equal(state["latent"][0], [1.0, -1.0, 0.4])


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: ports.Resistive(0.0), "resistance"),
        (lambda: ports.Resistive(1.0, levels=4), "needs bounds"),
        (lambda: ports.Resistive(1.0, bounds=(1, -1)), "bounds"),
        (lambda: ports.Resistive(1.0, bounds=(-1, 1), levels=1), "levels"),
        (lambda: ports.Inertial(1.0, 3.0), "dtau \\* resistance / mass"),
        (lambda: ports.GaussNewton(-1.0), "damping"),
        (lambda: ports.Leak(-0.1), "conductance"),
        (lambda: ports.from_config({"kind": "resistive", "resistanse": 1.0}), "port.resistanse"),
        (lambda: ports.from_config({"kind": "inertial", "mass": 1.0}), "port.resistance"),
        (lambda: ports.from_config({"kind": "magic"}), "port.kind"),
    ],
)
def test_bad_port_arguments(make, message):
    with pytest.raises(ConfigurationError, match=message):
        make()


def test_config_round_trip():
    port = ports.Inertial(20.0, 2.0, dtau=0.5, bounds=(-3, 3), levels=16, leak=1e-3)
    again = ports.from_config(port.to_config())
    assert again.to_config() == port.to_config()


@pytest.mark.parametrize("loss, residual", [("mse", False), ("cross_entropy", False), ("mse", True)])
def test_gauss_newton_matrix_against_finite_differences(problem, loss, residual):
    # oracle: J^T H J with J the central-difference Jacobian of net.forward and H the loss Hessian
    # (identity, or softmax's diag(p) - p p^T). Central differences with h = 1e-6 are accurate to
    # ~h^2 * |f'''| + eps/h ~ 1e-10, so 1e-7 relative is a safe bound.
    net, x, y = problem([3, 5, 4], loss=loss, batch=6, seed=4)
    if residual:  # two residual layers of width 4 (the step scales the parameter Jacobian)
        rng = np.random.default_rng(6)
        net = substrate.Network([substrate.Residual(rng.standard_normal((4, 4)) / 2, rng.standard_normal(4) / 2,
                                                    step=0.7) for _ in range(2)])
        x = rng.standard_normal((6, 4))
    loss_fn = get_loss(loss)
    target = loss_fn.target(y, 4)
    flat = np.concatenate([p.ravel() for p in net.params])
    shapes = [p.shape for p in net.params]

    def outputs(vector):
        twin, start, arrays = net.copy(), 0, []
        for shape in shapes:
            size = int(np.prod(shape))
            arrays.append(vector[start:start + size].reshape(shape))
            start += size
        twin.params = arrays
        return twin.forward(x)

    h = 1e-6
    jac = np.stack([(outputs(flat + h * e) - outputs(flat - h * e)) / (2 * h) for e in np.eye(len(flat))], axis=2)
    out = net.forward(x)
    if loss == "cross_entropy":
        p = np.exp(out - out.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        hess = np.stack([np.diag(q) - np.outer(q, q) for q in p])
    else:
        hess = np.broadcast_to(np.eye(4), (6, 4, 4))
    want = sum(jac[n].T @ hess[n] @ jac[n] for n in range(6)) / 6
    got = ports.gauss_newton_matrix(net, x, target, loss_fn)
    np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-9)


def test_gauss_newton_port_is_a_damped_newton_step(problem):
    net, x, y = problem([3, 4, 2], loss="mse", batch=10, seed=5)
    loss_fn = get_loss("mse")
    gradient = substrate.backprop(net, x, y, "mse")
    matrix = ports.gauss_newton_matrix(net, x, loss_fn.target(y, 2), loss_fn)
    port = ports.GaussNewton(0.1, dtau=0.5)
    state, power = port.step(port.initial_state(net.params), gradient, lambda: matrix)
    flat = np.concatenate([p.ravel() for p in net.params])
    want = flat - 0.5 * np.linalg.solve(matrix + 0.1 * np.eye(len(flat)), np.concatenate([g.ravel() for g in gradient]))
    got = np.concatenate([p.ravel() for p in port.parameters(state)])
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    # with dtau != 1 the flow is dtau R^{-1} e / dtau = R^{-1} e: matched, no reflection
    assert power.reflected.sum() < 1e-24
    with pytest.raises(ConfigurationError, match="curvature"):
        port.step(port.initial_state(net.params), gradient)


@pytest.mark.parametrize("port", [ports.Resistive(4.0), ports.Resistive(4.0) + ports.Leak(0.01),
                                  ports.Inertial(40.0, 4.0, dtau=0.5),
                                  ports.Inertial(40.0, 4.0, bounds=(-0.5, 0.5), levels=9) + ports.Leak(0.02)])
def test_in_place_update_in_blocks_equals_the_out_of_place_port_law_bit_for_bit(port):
    # one array larger than a block (the blocked path) and one smaller; the oracle is the port law
    # written out of place, as the trainer before the in-place rewrite computed it
    rng = np.random.default_rng(3)
    shapes = [(ports.BLOCK // 100 + 7, 100 + 3), (5, 7)]
    params = [rng.standard_normal(shape) * 0.4 for shape in shapes]
    efforts = [rng.standard_normal(shape) for shape in shapes]
    state = port.initial_state(params)
    if "velocity" in state:
        state["velocity"] = [rng.standard_normal(shape) * 0.1 for shape in shapes]
    old = port.parameters(state)
    drive = [e + port.leak * p if port.leak else e for e, p in zip(efforts, old)]
    if isinstance(port, ports.Inertial):
        h, m, r = port.dtau, port.mass, port.resistance
        velocity = [u + (h / m) * (-e - r * u) for u, e in zip(state["velocity"], drive)]
        latent = [x + h * u for x, u in zip(state["latent"], velocity)]
    else:
        velocity = None
        latent = [x - (port.dtau / port.resistance) * e for x, e in zip(state["latent"], drive)]
    latent = [np.clip(x, *port.bounds) if port.bounds else x for x in latent]
    want = [port.device(x) for x in latent]
    flows = [-(n - o) / port.dtau for n, o in zip(want, old)]

    params_in_use = [np.array(p) for p in old]
    power = port.update(state, efforts, params=params_in_use, power=True)
    for got, expected in zip(params_in_use, want):
        np.testing.assert_array_equal(got, expected)  # exact: the same operations, in blocks
    for got, expected in zip(state["latent"], latent):
        np.testing.assert_array_equal(got, expected)
    for got, expected in zip(state.get("velocity", ()), velocity or ()):
        np.testing.assert_array_equal(got, expected)
    # powers: the same sums, accumulated block by block (summation order differs: rounding only)
    r = port.resistance
    np.testing.assert_allclose(power.absorbed, [np.sum(e * v) for e, v in zip(efforts, flows)], rtol=1e-12)
    np.testing.assert_allclose(power.reflected, [np.sum((e - r * v) ** 2) / (4 * r) for e, v in zip(efforts, flows)],
                               rtol=1e-12)
    np.testing.assert_allclose(power.incident, [np.sum((e + r * v) ** 2) / (4 * r) for e, v in zip(efforts, flows)],
                               rtol=1e-12)
