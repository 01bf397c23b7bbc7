"""Kubernetes for the agent: Job rendering, pod security, W&B env, capacity and pending reasons."""
