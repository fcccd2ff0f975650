"""Input/output of BSC data: load a CSV folder or an ``.xlsx`` workbook; write the template.

* :func:`load` – read, parse and validate; returns a canonical :class:`BSCData` or raises
  :class:`bsc_lib.errors.DataError` listing *all* problems.
* :func:`read_tables` – read and parse only (no validation rules).
* :func:`write_template` – the empty, documented input workbook.
* :func:`read_kpi_table` – any agency's KPI table through a column mapping (for the
  difficulty analysis on real data; see ``docs/kpi-table-mapping.md``).

Input formats and cell rules are documented in :mod:`bsc_lib.data.io.reader` (files, encodings,
sheets, row numbers) and :mod:`bsc_lib.data.io.parse` (headers, missing tokens, numbers,
booleans, codes); the rules in :mod:`bsc_lib.data.validate`.
"""

from __future__ import annotations

from pathlib import Path

from bsc_lib.config.scheme import Scheme
from bsc_lib.data.io.kpi_table import read_kpi_table
from bsc_lib.data.io.loader import read_tables
from bsc_lib.data.io.problems import TableOrigin
from bsc_lib.data.io.template import write_template
from bsc_lib.data.model import BSCData
from bsc_lib.errors import DataError

__all__ = ["BSCData", "TableOrigin", "load", "read_kpi_table", "read_tables", "write_template"]


def load(path: str | Path, scheme: Scheme | None = None, *, na_as_missing: bool | None = None,
         text: str = "category") -> BSCData:
    """Read and validate a CSV folder or an ``.xlsx`` workbook.

    Parameters
    ----------
    path
        A folder with one CSV per table (``<english name>.csv`` or ``<korean name>.csv``) or
        a workbook with one sheet per table.
    scheme
        The evaluation scheme used by the rules (weight sum, scales, items); None loads
        ``params/scheme-2019.yaml``.
    na_as_missing
        Read Excel's ``#N/A`` error (a lookup that found nothing) as a missing value instead
        of the problem ``formula error``; other formula errors are always problems. None (the
        default): ``input.na_as_missing`` of the run's analysis settings inside ``bsc report``
        (environment variable ``BSC_NA_AS_MISSING``), else False.
    text
        ``"category"`` (default): text columns stay integer-coded as read (``category``, sorted
        distinct values, a code per cell): no string is hashed again. ``"str"``: text columns
        have dtype ``str``. Every consumer of the library (scoring, analyses, result tables,
        exports, reports, dashboard, feedback) gives the same results for either (checked by
        the tests); where text is shown or combined, it is turned into ``str`` there
        (:func:`bsc_lib.data.model.plain_text`, :meth:`~bsc_lib.data.model.BSCData.plain`).

    Returns
    -------
    BSCData
        Every table of :data:`bsc_lib.data.model.TABLES` (absent optional tables empty), columns
        in model order with the dtypes of :func:`bsc_lib.data.model.pandas_dtype`, English codes,
        ``source`` = ``str(path)``, ``input_hashes`` = ``{file name: sha256}`` and ``notices``
        (what the reader did on its own: merged cells filled, total/note/unit rows skipped …).

    Raises
    ------
    DataError
        Listing every problem found (file, sheet, row, column, rule, value, message).
    """
    from bsc_lib.data.validate import check_path

    data, problems = check_path(path, scheme, na_as_missing=na_as_missing, text=text)
    if problems or data is None:
        raise DataError(problems)
    return data
