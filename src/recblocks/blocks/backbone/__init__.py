"""recblocks.blocks/backbone"""

__all__: list[str] = []
