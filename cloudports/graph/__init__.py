"""The topology as a picture: a small neutral graph built from a compiled policy (model.py), then one renderer per
format (render.py; the formats in formats.py).

Nothing is imported here: `cloudports graph --help` reads formats.py alone, and importing a package runs its
__init__ first.
"""
