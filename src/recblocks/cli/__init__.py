"""recblocks.cli"""

__all__: list[str] = []
