"""recblocks.data"""

__all__: list[str] = []
