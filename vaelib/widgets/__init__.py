"""Interactive explorers, one module per notebook.

Each widget's callback is a plain function of the slider values that returns the numbers (and draws
on a given Axes), so tests call it without a browser; the ``ipywidgets`` wiring is a thin layer.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Sequence

if TYPE_CHECKING:
    import ipywidgets
    from matplotlib.figure import Figure


def live_figure(sliders: Sequence[Any], draw: Callable[..., "Figure"]) -> "ipywidgets.VBox":
    """Sliders above an Output showing ``draw(*slider values)``'s figure, redrawn whenever a slider moves."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt
    from IPython.display import display

    out = widgets.Output()

    def redraw(_change: object = None) -> None:
        with out:
            out.clear_output(wait=True)
            fig = draw(*[s.value for s in sliders])
            display(fig)
            plt.close(fig)

    for slider in sliders:
        slider.observe(redraw, names="value")
    redraw()
    return widgets.VBox([widgets.HBox(list(sliders)), out])
