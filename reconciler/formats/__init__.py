"""Other formats in and out: JSON Schema, Kubernetes manifests, docker-compose files. No I/O."""
