"""Where the workbench's files are: notebooks, default params, outputs; resolving user paths.

Two layouts are supported:

* **a repository checkout** (``pip install -e .`` or ``PYTHONPATH=.``): the top-level
  ``notebooks/`` and ``params/`` folders of the repository are used, outputs go to
  ``<repository>/outputs``;
* **an installed wheel** (``pip install .``, no checkout): the copies of ``notebooks/*.ipynb``
  and ``params/*.yaml`` that the build put inside the package (``bsc_lib/_resources/``, see
  ``setup.py``) are used, outputs go to ``./outputs`` under the current directory.

A relative path given by the analyst (:func:`resolve`) is taken from the current directory
when it exists there, otherwise from the repository root (checkout) and, for ``params/…``
and ``notebooks/…``, from the packaged copies, so notebooks run the same from
``notebooks/``, the repository root, a papermill run folder or an installed package.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path

#: The folder holding the ``bsc_lib`` package: the repository root in a checkout,
#: ``site-packages`` (or a ``--target`` folder) when installed.
REPO_ROOT = Path(__file__).resolve().parent.parent.parent
#: Folder inside the package where the build copies ``notebooks/`` and ``params/``.
RESOURCES = "_resources"
#: The resource folders (top-level folders of the repository, copied into the package).
RESOURCE_FOLDERS = ("notebooks", "params")
DEFAULT_SCHEME_NAME = "scheme-2019.yaml"
DEFAULT_ANALYSIS_NAME = "analysis.yaml"


@cache
def in_checkout() -> bool:
    """True when ``bsc_lib`` is imported from a repository checkout (not an installed wheel).

    A checkout has ``pyproject.toml``, ``notebooks/`` and ``params/`` next to the package.
    """
    return ((REPO_ROOT / "pyproject.toml").is_file()
            and all((REPO_ROOT / name).is_dir() for name in RESOURCE_FOLDERS))


def resource_dir(name: str) -> Path:
    """The ``notebooks`` or ``params`` folder: the repository's in a checkout, else the packaged copy.

    Raises
    ------
    ValueError
        For a name other than :data:`RESOURCE_FOLDERS`.

    Notes
    -----
    The packaged folder is returned even when it does not exist (a wheel built without
    ``setup.py``'s hook): the callers report the missing notebook or file.
    """
    if name not in RESOURCE_FOLDERS:
        raise ValueError(f"unknown resource folder {name!r}; expected one of {RESOURCE_FOLDERS}")
    if in_checkout():
        return REPO_ROOT / name
    return Path(str(resources.files("bsc_lib").joinpath(RESOURCES, name)))


def notebooks_dir() -> Path:
    """The analysis notebooks folder (see :func:`resource_dir`)."""
    return resource_dir("notebooks")


def params_dir() -> Path:
    """The folder of the shipped schemes and analysis settings (see :func:`resource_dir`)."""
    return resource_dir("params")


def default_scheme_path() -> Path:
    """The shipped 2019 scheme, ``params/scheme-2019.yaml``."""
    return params_dir() / DEFAULT_SCHEME_NAME


def default_analysis_path() -> Path:
    """The shipped analysis settings, ``params/analysis.yaml``."""
    return params_dir() / DEFAULT_ANALYSIS_NAME


def base_dir() -> Path:
    """The folder relative paths fall back to: the repository root, or the current directory
    when installed (also the working folder of the notebook kernels)."""
    return REPO_ROOT if in_checkout() else Path.cwd()


def default_out_dir() -> Path:
    """Default output root: ``<repository>/outputs`` in a checkout, else ``./outputs``."""
    return base_dir() / "outputs"


def resolve(path: str | Path) -> Path:
    """Absolute path for ``path``.

    Order: as given (absolute, or relative to the current directory when it exists there),
    then the repository root (checkout only), then the packaged copies for ``params/…`` and
    ``notebooks/…``; when nothing exists, relative to the current directory.
    """
    p = Path(path).expanduser()
    if p.is_absolute() or p.exists():
        return p.resolve()
    candidates = [REPO_ROOT / p] if in_checkout() else []
    if len(p.parts) > 1 and p.parts[0] in RESOURCE_FOLDERS:
        candidates.append(resource_dir(p.parts[0]).joinpath(*p.parts[1:]))
    for alt in candidates:
        if alt.exists():
            return alt.resolve()
    return p.resolve()
