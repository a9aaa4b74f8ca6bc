"""Protocol v2 framing as the command reads and writes it; stdlib only under `python -S`."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from kepler.searchcommand.protocol import ProtocolError, read_chunk, write_chunk

ROOT = Path(__file__).resolve().parents[2]


def test_lengths_are_utf8_byte_counts_and_round_trip() -> None:
    out = io.BytesIO()
    write_chunk(out, {"finished": True, "note": "Köln"}, "temp\r\n東京\r\n".encode())
    raw = out.getvalue()
    meta = b'{"finished":true,"note":"K\xc3\xb6ln"}'
    assert raw.startswith(b"chunked 1.0,%d,%d\n" % (len(meta), len("temp\r\n東京\r\n".encode())))
    assert read_chunk(io.BytesIO(raw)) == (
        {"finished": True, "note": "Köln"},
        "temp\r\n東京\r\n".encode(),
    )


def test_end_of_input_and_blank_lines_between_chunks() -> None:
    stream = io.BytesIO(b"chunked 1.0,2,0\n{}\nchunked 1.0,0,3\nabc")
    assert read_chunk(stream) == ({}, b"")
    assert read_chunk(stream) == ({}, b"abc")
    assert read_chunk(stream) is None


@pytest.mark.parametrize("raw", [b"hello\n", b"chunked 1.0,10,0\n{}"])
def test_malformed_input_is_a_protocol_error(raw: bytes) -> None:
    with pytest.raises(ProtocolError):
        read_chunk(io.BytesIO(raw))


def test_command_package_imports_in_bare_python_without_data_libraries() -> None:
    probe = f"""
import sys
sys.path.insert(0, {str(ROOT)!r})
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("numpy", "pandas", "pyarrow", "httpx", "sklearn", "pydantic"):
            raise ImportError("not in Splunk's Python: " + name)
sys.meta_path.insert(0, Block())
import kepler.searchcommand.main, kepler.searchcommand.command
print("ok")
"""
    out = subprocess.run([sys.executable, "-S", "-c", probe], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
