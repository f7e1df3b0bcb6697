import json
import subprocess
import sys
from pathlib import Path

import protocol

_FORBIDDEN = ("asyncio", "starlette", "server", "uvicorn", "websockets", "anyio")

_SCRIPT = """
import importlib, json, pkgutil, sys
import protocol
for module in pkgutil.iter_modules(protocol.__path__):
    importlib.import_module(f"protocol.{module.name}")
print(json.dumps(sorted(sys.modules)))
"""


def test_protocol_imports_no_io_framework() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _SCRIPT],
        cwd=Path(protocol.__file__).parent.parent,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    loaded = json.loads(result.stdout)
    assert "protocol.codec" in loaded and "protocol.export" in loaded
    offending = [name for name in loaded if name.split(".")[0] in _FORBIDDEN]
    assert offending == []
