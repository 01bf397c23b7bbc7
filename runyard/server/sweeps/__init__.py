"""Sweeps: hyperparameter search over runs, driven by `wandb agent`s or by launch queues."""
