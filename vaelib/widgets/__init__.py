"""Interactive explorers, one module per notebook.

Each widget's callback is a plain function of the slider values that returns the numbers (and draws
on a given Axes), so tests call it without a browser; the ``ipywidgets`` wiring is a thin layer.
"""
