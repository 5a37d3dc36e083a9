"""recblocks.models"""

__all__: list[str] = []
