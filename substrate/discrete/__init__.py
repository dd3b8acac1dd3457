"""Level 0: discrete wave iteration (the worldsheet)."""

from .worldsheet import RelaxationHistory, Worldsheet, check_courant, initial_state

__all__ = ["Worldsheet", "RelaxationHistory", "check_courant", "initial_state"]
