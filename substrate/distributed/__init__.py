"""Level 2: distributed lines (telegrapher equations by the method of lines)."""
