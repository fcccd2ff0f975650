"""Resolve the paths notebooks and the CLI receive as parameters.

A relative path is taken from the current directory when it exists there, otherwise from
the repository root, so notebooks run the same from ``notebooks/``, the repository root
or a papermill run folder.
"""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def resolve(path: str | Path) -> Path:
    """Absolute path for ``path`` (cwd first, then the repository root)."""
    p = Path(path).expanduser()
    if p.is_absolute() or p.exists():
        return p.resolve()
    alt = REPO_ROOT / p
    return alt.resolve() if alt.exists() else p.resolve()
