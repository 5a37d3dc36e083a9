"""Compile ``protos/*.proto`` into the committed descriptor set (``make protos``; needs grpcio-tools).

``python -m recblocks.easyrec.compile`` rewrites ``protos/descriptor_set.binpb``;
:func:`compile_descriptor_set` is what both that command and the staleness test call.
grpcio-tools is a development dependency only: the run-time side reads the compiled file.
"""

from __future__ import annotations

import importlib.util
import sys
import tempfile
from pathlib import Path

from google.protobuf import descriptor_pb2

from recblocks.easyrec.schema import DESCRIPTOR_SET, PROTO_DIR, ROOT_PROTOS

__all__ = ["compile_descriptor_set", "protoc_available", "main"]


def protoc_available() -> bool:
    """Whether grpcio-tools (which bundles protoc) is importable."""
    return importlib.util.find_spec("grpc_tools") is not None


def compile_descriptor_set() -> descriptor_pb2.FileDescriptorSet:
    """Run protoc over the ``.proto`` files and return the descriptor set (imports included, no source info)."""
    from grpc_tools import protoc  # dev-only dependency, imported when compiling

    source_root = PROTO_DIR.parents[2]  # .../src, so file names read recblocks/easyrec/protos/<name>.proto
    well_known = Path(protoc.__file__).resolve().parent / "_proto"  # google/protobuf/struct.proto
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "set.binpb"
        code = protoc.main(["protoc", f"-I{source_root}", f"-I{well_known}", "--include_imports",
                            f"--descriptor_set_out={out}", *(str(source_root / root) for root in ROOT_PROTOS)])
        if code != 0:
            raise RuntimeError(f"protoc could not compile {PROTO_DIR} (exit status {code}; its messages are above)")
        result = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
    listed = {Path(f.name).name for f in result.file}
    unused = sorted(p.name for p in PROTO_DIR.glob("*.proto") if p.name not in listed)
    if unused:
        raise RuntimeError(f"{' and '.join(ROOT_PROTOS)} do not import (directly or not) these files: "
                           f"{', '.join(unused)}")
    return result


def main() -> int:
    """Rewrite the committed descriptor set from the ``.proto`` files."""
    if not protoc_available():
        print("grpcio-tools is not installed: pip install -e '.[dev]'", file=sys.stderr)
        return 1
    files = compile_descriptor_set()
    DESCRIPTOR_SET.write_bytes(files.SerializeToString(deterministic=True))
    print(f"wrote {DESCRIPTOR_SET} ({len(files.file)} files)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
