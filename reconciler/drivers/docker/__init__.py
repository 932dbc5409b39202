"""The Docker engine's driver: a Sandbox is an infra container its members join.

``driver.DockerDriver`` observes and acts; ``spec`` turns effective specs into
Engine API bodies (pure); ``http`` makes the common calls over a unix socket
without the docker SDK. Importing this package imports none of them.
"""
