"""Figures with matplotlib's object-oriented API: every axis labelled, with units; files written atomically.

Figures are :class:`matplotlib.figure.Figure` objects made without pyplot, so nothing here touches
pyplot's global state or the user's backend (importing this module never calls ``matplotlib.use``);
saving needs no GUI. Plot helpers return the Figure; :func:`save_figure` writes it.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from .io import atomic_path

__all__ = ["subplots", "save_figure", "plot_worldsheet"]


def subplots(nrows: int = 1, ncols: int = 1, figsize=(6.4, 4.8), layout: str | None = "constrained", **kwargs):
    """``(figure, axes)`` like ``pyplot.subplots``, but a free-standing :class:`~matplotlib.figure.Figure`
    (no pyplot state, no backend switch); ``kwargs`` go to :meth:`Figure.subplots`."""
    figure = Figure(figsize=figsize, layout=layout)
    return figure, figure.subplots(nrows, ncols, **kwargs)


def save_figure(figure, path: str | os.PathLike, dpi: int = 130) -> Path:
    """Save ``figure`` to ``path`` atomically; return the path."""
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=dpi, bbox_inches="tight")
    return Path(path)


def plot_worldsheet(history, path: str | os.PathLike | None = None, title: str = "") -> Figure:
    """Plot a :class:`~substrate.RelaxationHistory` as the worldsheet: links against steps.

    Left and middle panels: log10 of each link's deviation from backprop (forward waves, backward
    waves); exact regions are dark, so the light cone of the relaxation is visible. Right panel: the
    relative gradient error per step. Returns the Figure (also saved to ``path`` when given).
    """
    floor = 1e-16
    fields = [np.log10(np.maximum(history.forward_error, floor)), np.log10(np.maximum(history.backward_error, floor))]
    steps = history.steps
    links = np.arange(history.forward_error.shape[1])
    depth = links[-1]
    figure, axes = subplots(1, 3, figsize=(15, 5))
    for axis, data, name in zip(axes[:2], fields, ["forward waves $a_k$", "backward waves $s_k$"]):
        image = axis.pcolormesh(links, steps, data, shading="nearest", cmap="magma", vmin=-16, vmax=max(1.0, data.max()))
        axis.set_xlabel("link k (0 = input port, L = loss port)")
        axis.set_ylabel("wave step n (layer times)")
        axis.set_title(f"{name}\ndeviation from backprop")
        axis.set_xticks(links)
        figure.colorbar(image, ax=axis, label="log10 max |wave - backprop| (dimensionless)")
    # the light cone at unit Courant number: forward exact from n = k, backward from n = 2L + 1 - k
    # (drawn half a step below the first exact cell)
    axes[0].plot(links, links - 0.5, "c--", lw=1.5, label="light cone n = k")
    axes[1].plot(links, 2 * depth + 0.5 - links, "c--", lw=1.5, label="light cone n = 2L + 1 - k")
    for axis in axes[:2]:
        axis.legend(loc="upper right", fontsize=8)
        axis.set_ylim(steps[0] - 0.5, steps[-1] + 0.5)
    axes[2].semilogy(steps, np.maximum(history.gradient_error, floor), "o-")
    axes[2].axvline(2 * depth, color="gray", ls=":", label="n = 2L")
    axes[2].set_xlabel("wave step n")
    axes[2].set_ylabel("relative gradient error (dimensionless)")
    axes[2].set_title("parameter-port efforts\nagainst backprop")
    axes[2].legend()
    if title:
        figure.suptitle(title)
    if path is not None:
        save_figure(figure, path)
    return figure
