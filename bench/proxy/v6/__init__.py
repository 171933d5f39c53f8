"""Proxy v6: world, text encoding, codec and recipe switches (see README.md, experiments.md)."""
