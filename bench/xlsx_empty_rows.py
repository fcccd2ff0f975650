"""Benchmark: a workbook whose kpis sheet has a million empty formatted rows (issue 14, target < 3 s).

Builds the minimal valid workbook of ``tests/bad_inputs`` and gives its kpis sheet 1,000,000
rows below the KPIs that carry a fill and borders and no value (``<row … s= customFormat=>``
with a styled, empty ``<c r= s=/>`` in each of the 11 columns, as Excel writes a formatted
block), then times :func:`bsc_lib.data.io.reader.read_raw` and the whole
:func:`bsc_lib.data.validate.validate` on it (best of ``--repeat``).

Run from the repository root::

    .venv/bin/python -m bench.xlsx_empty_rows [--rows 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import io
import re
import sys
import tempfile
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def formatted_workbook(rows: int) -> bytes:
    """The minimal workbook with ``rows`` empty formatted rows appended to its kpis sheet."""
    sys.path.insert(0, str(REPO / "tests" / "bad_inputs"))
    try:
        import make_cases
    finally:
        sys.path.pop(0)

    def fmt(wb, ws) -> None:  # one styled cell, so that the style index 1 exists
        ws["kpis"].write_blank(6, 0, None, wb.add_format({"bg_color": "#FFF2CC", "border": 1}))

    data = make_cases.workbook_bytes(make_cases._base_sheets(), extra=fmt)
    zin = zipfile.ZipFile(io.BytesIO(data))
    names = [i.filename for i in zin.infolist()]
    wb_xml = zin.read("xl/workbook.xml").decode()
    order = re.findall(r'<sheet name="([^"]+)"', wb_xml)
    part = f"xl/worksheets/sheet{order.index('kpis') + 1}.xml"
    letters = "ABCDEFGHIJK"
    first = 8
    body = b"".join(
        (f'<row r="{r}" spans="1:11" s="1" customFormat="1">'
         + "".join(f'<c r="{c}{r}" s="1"/>' for c in letters) + "</row>").encode()
        for r in range(first, first + rows))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for name in names:
            part_bytes = zin.read(name)
            if name == part:
                part_bytes = part_bytes.replace(b"</sheetData>", body + b"</sheetData>")
                part_bytes = re.sub(rb'<dimension ref="[^"]*"/>', f'<dimension ref="A1:K{first + rows - 1}"/>'.encode(),
                                    part_bytes)
            zout.writestr(name, part_bytes)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    from bsc_lib.data.io.reader import read_raw
    from bsc_lib.data.validate import validate

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "formatted.xlsx"
        path.write_bytes(formatted_workbook(args.rows))
        size = path.stat().st_size
        with zipfile.ZipFile(path) as z:
            unpacked = sum(i.file_size for i in z.infolist())
        times_raw, times_val = [], []
        for _ in range(args.repeat):
            t = time.perf_counter()
            raw = read_raw(path)
            times_raw.append(time.perf_counter() - t)
            t = time.perf_counter()
            problems = validate(path)
            times_val.append(time.perf_counter() - t)
        assert len(raw.tables["kpis"].cells) == 5, raw.tables["kpis"].cells
        assert problems == [], problems
    print(f"{args.rows:,} empty formatted rows: file {size / 2**20:.1f} MB, unpacked {unpacked / 2**20:.0f} MB; "  # noqa: T201
          f"read_raw best {min(times_raw):.2f} s, validate best {min(times_val):.2f} s "
          f"(of {args.repeat}; kpis rows read: 5, problems: 0)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
