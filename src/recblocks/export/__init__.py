"""recblocks.export"""

__all__: list[str] = []
