"""The run driver: wires a problem, an executor, an inversion, checkpoints and the summary."""
