"""Pictures and summaries of models: graph descriptions, Mermaid text, PNG/SVG drawings, tables.

Reads models (their compiled backbone plans); models never import it.
"""

from recblocks.viz.diagram import (
    PICTURE_MARK,
    check_plot_path,
    describe_graph,
    is_own_picture,
    plot_model,
    to_mermaid,
)
from recblocks.viz.summary import format_table

__all__ = ["PICTURE_MARK", "check_plot_path", "describe_graph", "format_table", "is_own_picture", "plot_model",
           "to_mermaid"]
