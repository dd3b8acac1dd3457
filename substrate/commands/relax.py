"""``substrate relax``: relax a random network's worldsheet and show its light cone."""

from __future__ import annotations

import argparse

import numpy as np

from ..errors import ConfigurationError


def parse_sizes(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",")]
    except ValueError:
        raise ConfigurationError(f"--sizes = {text!r} must be comma-separated integers such as 4,8,8,2") from None
    if len(sizes) < 2 or min(sizes) < 1:
        raise ConfigurationError(f"--sizes = {text!r} needs at least two widths, each >= 1")
    return sizes


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "relax",
        help="relax a random network's worldsheet from random waves; print the gradient error per step",
        description="Relax the level-0 worldsheet of a random MLP on a random batch, print the relative "
        "gradient error against backprop at every step, and plot the worldsheet (links against steps).",
    )
    parser.add_argument("--sizes", default="4,8,8,2", help="layer widths n0,...,nL (default 4,8,8,2)")
    parser.add_argument("--steps", type=int, default=None, help="wave steps (default 2L + 2)")
    parser.add_argument("--courant", type=float, default=1.0, help="Courant number in (0, 2) (default 1)")
    parser.add_argument("--beta", type=float, default=1.0, help="backward-wave scale (default 1)")
    parser.add_argument("--activation", default="tanh")
    parser.add_argument("--loss", default="mse", choices=["mse", "cross_entropy"])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--init", default="random", choices=["random", "zeros"], help="initial waves")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="worldsheet.png", help="PNG file for the worldsheet plot")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from .. import MLP, Worldsheet
    from ..discrete.worldsheet import check_courant
    from ..io import check_output_file
    from ..plotting import plot_worldsheet
    from ..progress import Phases
    from ..resources import check_memory, network_memory

    sizes = parse_sizes(args.sizes)
    if args.batch < 1:
        raise ConfigurationError(f"--batch = {args.batch} must be >= 1")
    depth = len(sizes) - 1
    steps = 2 * depth + 2 if args.steps is None else args.steps
    if steps < 0:
        raise ConfigurationError(f"--steps = {steps} must be >= 0")
    check_output_file(args.out)
    check_memory(network_memory(sizes, args.batch, steps))
    check_courant("--courant", args.courant, depth)
    rng = np.random.default_rng(args.seed)
    net = MLP(sizes, activation=args.activation, seed=rng)
    for layer in net.layers:
        layer.bias[:] = 0.3 * rng.standard_normal(layer.n_out)
    x = rng.standard_normal((args.batch, sizes[0]))
    y = rng.integers(0, sizes[-1], args.batch) if args.loss == "cross_entropy" else rng.standard_normal((args.batch, sizes[-1]))
    sheet = Worldsheet(net, args.loss, courant=args.courant, beta=args.beta)
    with Phases(["relax", "plot"], not args.no_progress, label="relax") as bar:
        state = sheet.relax(x, y, steps, init=args.init, rng=rng, record=True)
        bar.next()
        history = state.history
        plot_worldsheet(history, args.out, title=f"worldsheet of an MLP {sizes}, courant {args.courant}")
    print(f"network {sizes} ({args.activation}), loss {args.loss}, batch {args.batch}, courant {args.courant}, "
          f"L = {depth}: exact from step 2L = {2 * depth} at courant 1")
    print(f"{'step':>5}  {'gradient error':>14}")
    for n, error in zip(history.steps, history.gradient_error):
        print(f"{n:5d}  {error:14.3e}")
    print(f"worldsheet plot: {args.out}")
    return 0
