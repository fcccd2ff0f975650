"""Build hook of bsc-workbench (the metadata is in pyproject.toml).

The repository's top-level ``notebooks/`` and ``params/`` folders are the source of truth. A
wheel has no repository around it, so ``build_py`` copies ``notebooks/*.ipynb`` and
``params/*.yaml`` into the built package as ``bsc_lib/_resources/notebooks/`` and
``bsc_lib/_resources/params/``, where :mod:`bsc_lib.config.paths` finds them when the package is
installed without a checkout. Editable installs use the repository's folders directly.
"""

from __future__ import annotations

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
#: folder of the repository -> glob of the files shipped inside the package
RESOURCES = {"notebooks": "*.ipynb", "params": "*.yaml"}
TARGET = ("bsc_lib", "_resources")


class BuildPyWithResources(build_py):
    """``build_py`` that also copies the notebooks and params into ``bsc_lib/_resources``."""

    def _resource_files(self) -> list[tuple[Path, Path]]:
        pairs = []
        for folder, pattern in RESOURCES.items():
            files = sorted((HERE / folder).glob(pattern))
            if not files:
                raise FileNotFoundError(f"no {folder}/{pattern} next to setup.py: cannot build the package")
            dest = Path(self.build_lib, *TARGET, folder)
            pairs += [(f, dest / f.name) for f in files]
        return pairs

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads the repository's folders (bsc_lib.config.paths)
        for src, dst in self._resource_files():
            self.mkpath(str(dst.parent))
            self.copy_file(str(src), str(dst), preserve_mode=False)

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        outputs = list(super().get_outputs(include_bytecode))
        if not getattr(self, "editable_mode", False):
            outputs += [str(dst) for _, dst in self._resource_files()]
        return outputs


setup(cmdclass={"build_py": BuildPyWithResources})
