"""The CRI engine's driver (containerd's CRI plugin): a Sandbox is the runtime's pod sandbox.

``driver.CriDriver`` observes and acts; ``spec`` builds the request bodies
(pure but for the generated messages); ``client`` talks gRPC; ``pb`` is the
generated code. Importing this package imports none of them (nor grpc).
"""
