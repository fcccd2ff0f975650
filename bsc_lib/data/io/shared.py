"""The inputs a ``bsc report`` run validated, read once and handed to its notebook kernels.

``bsc report`` loads and validates the inputs before any kernel starts. It writes them
(:func:`share_inputs`) into the run's private shared folder, which the kernels find through the
environment variable :data:`SHARED_ENV` (the folder also holds the run's result tables, see
:class:`bsc_lib.analyses.recipes.SharedTables`). Each notebook's :func:`run_data` reads that copy
when it is the same input — the same data path, the same scheme and the same reading of ``#N/A`` —
and loads the data itself otherwise (a notebook run by hand, or another input). So one snapshot
of the inputs serves the whole run, and no kernel parses and validates the files again.
"""

from __future__ import annotations

import logging
import os
import pickle
from pathlib import Path

from bsc_lib.config.scheme import Scheme
from bsc_lib.data.io import load
from bsc_lib.data.io.loader import resolve_na_as_missing
from bsc_lib.data.model import BSCData, is_coded_text

log = logging.getLogger(__name__)

#: Environment variable naming a run's private shared folder (set by ``bsc report`` for its kernels)
SHARED_ENV = "BSC_SHARED_TABLES"
#: File of the shared folder holding the run's validated inputs
INPUTS_FILE = "_inputs.pkl"

__all__ = ["INPUTS_FILE", "SHARED_ENV", "run_data", "share_inputs", "write_atomic"]


def _key(data_path: str | Path, scheme: Scheme, na_as_missing: bool, text: str) -> dict:
    """What must be equal for a shared copy to be the data :func:`bsc_lib.data.io.load` would give."""
    return {"data_path": str(Path(data_path).resolve()), "scheme_sha256": getattr(scheme, "sha256", ""),
            "na_as_missing": bool(na_as_missing), "text": text}


def share_inputs(folder: str | Path, data: BSCData, data_path: str | Path, scheme: Scheme,
                 na_as_missing: bool, text: str | None = None) -> Path:
    """Write ``data`` (loaded from ``data_path`` with ``scheme``) into the run's shared ``folder``.

    ``text``: how ``data`` holds its text (``"category"`` or ``"str"``, see
    :func:`bsc_lib.data.io.load`); None: ``"category"`` when a table holds integer-coded text,
    else ``"str"``. Written atomically (a reader sees the
    whole file or none). Returns the file's path.
    """
    if text is None:
        coded = any(is_coded_text(dt) for t in data.tables.values() for dt in t.dtypes)
        text = "category" if coded else "str"
    target = Path(folder) / INPUTS_FILE
    write_atomic(target, pickle.dumps({"key": _key(data_path, scheme, na_as_missing, text), "data": data},
                                      protocol=pickle.HIGHEST_PROTOCOL))
    return target


def write_atomic(path: str | Path, blob: bytes) -> None:
    """Write ``blob`` to ``path`` so that a reader sees the whole file or none (a ``.part`` file
    renamed into place); used for everything a run shares with its kernels."""
    path = Path(path)
    part = path.with_name(f".{path.name}.part")
    part.write_bytes(blob)
    os.replace(part, path)


def _shared_copy(folder: str, key: dict) -> BSCData | None:
    path = Path(folder) / INPUTS_FILE
    if not path.is_file():
        return None
    try:
        with path.open("rb") as fh:
            shared = pickle.load(fh)  # noqa: S301 - the run's own private folder (mode 0700)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError) as exc:
        log.info("shared inputs in %s unreadable (%s): loading the data", folder, exc)
        return None
    if not isinstance(shared, dict) or shared.get("key") != key or not isinstance(shared.get("data"), BSCData):
        log.info("shared inputs in %s are another input's: loading the data", folder)
        return None
    return shared["data"]


def run_data(data_path: str | Path, scheme: Scheme, *, na_as_missing: bool | None = None,
             shared_dir: str | Path | None = None, text: str = "category") -> BSCData:
    """The run's validated inputs: the copy ``bsc report`` shared, else :func:`bsc_lib.data.io.load`.

    Parameters
    ----------
    data_path, scheme, text
        As for :func:`bsc_lib.data.io.load` (text integer-coded by default; a shared copy is
        used only when it was loaded with the same ``text``).
    na_as_missing
        As for :func:`bsc_lib.data.io.load` (None: the run's setting, else False).
    shared_dir
        The run's shared folder; None: the one named by :data:`SHARED_ENV`, if any.

    Returns
    -------
    BSCData
        Equal to ``load(data_path, scheme=scheme, na_as_missing=na_as_missing, text=text)`` at the time the
        run validated its inputs (every table, ``input_hashes`` and ``notices``).

    Raises
    ------
    DataError
        When there is no shared copy and the data do not validate.
    """
    folder = str(shared_dir) if shared_dir is not None else os.environ.get(SHARED_ENV, "")
    na = resolve_na_as_missing(na_as_missing)
    if folder:
        data = _shared_copy(folder, _key(data_path, scheme, na, text))
        if data is not None:
            return data
    return load(data_path, scheme=scheme, na_as_missing=na, text=text)
