"""recblocks.layers"""

__all__: list[str] = []
