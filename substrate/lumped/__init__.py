"""Level 1: lumped RC relaxation (dyadic backpropagation)."""

from .dyadic import Dyadic, DyadicSolution

__all__ = ["Dyadic", "DyadicSolution"]
