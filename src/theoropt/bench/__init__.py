"""Experiment harness: runner, results store, report writer, and the experiments."""
