"""The pure core: manifests, effective specs, admission, the planner and its actions. No I/O."""
