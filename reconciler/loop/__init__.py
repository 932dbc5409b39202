"""The control loop of `run` and `sync`, in parts: triggers, queue, restarts, probes, status."""
