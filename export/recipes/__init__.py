"""Export recipes as data (*.toml). The build maps this folder into the package as
``arc_edge.export_recipes`` (pyproject.toml), so recipes ship in wheels and load with importlib.resources."""
