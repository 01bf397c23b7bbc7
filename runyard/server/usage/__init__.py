"""GPU-hours accounting: who used how many GPUs for how long."""
