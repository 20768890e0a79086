"""The native runner's sources. The build maps this folder into the package as ``arc_edge.device_bench``
(pyproject.toml), so `arc-edge bench` can build the runner from any install (into a user cache folder)."""
