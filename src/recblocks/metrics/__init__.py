"""recblocks.metrics"""

__all__: list[str] = []
