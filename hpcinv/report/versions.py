"""What hpcinv runs on, for bug reports and for every summary.json: a scooby report of the
packages the numbers depend on, and the BLAS libraries loaded (MUMPS's among them)."""

from __future__ import annotations

import scooby

from hpcinv.version import __version__

#: packages whose versions can change hpcinv's numbers or behaviour
CORE = (
    "hpcinv",
    "numpy",
    "scipy",
    "simpeg",
    "discretize",
    "pymatsolver",
    "mumps",
    "torch",
    "dask",
    "distributed",
    "dask_jobqueue",
    "zarr",
    "threadpoolctl",
)
OPTIONAL = ("matplotlib", "tqdm", "cryptography", "geoana")


class Report(scooby.Report):
    """``print(hpcinv.Report())``: platform, Python and the versions of ``CORE`` and
    ``OPTIONAL`` packages (what ``hpcinv --version --verbose`` prints)."""

    def __init__(self, additional=None, ncol: int = 3, text_width: int = 88):
        super().__init__(
            additional=additional,
            core=list(CORE),
            optional=list(OPTIONAL),
            ncol=ncol,
            text_width=text_width,
            sort=False,
        )


def blas_libraries() -> list[dict]:
    """The BLAS/OpenMP libraries this process has loaded, with their versions and threads."""
    from threadpoolctl import threadpool_info

    return [
        {
            key: lib.get(key)
            for key in ("internal_api", "version", "num_threads", "threading_layer", "filepath")
        }
        for lib in threadpool_info()
    ]


def versions() -> dict:
    """The report as a JSON-able dict (summary.json's ``versions``), without the long list of
    every installed package, plus the loaded BLAS libraries."""
    report = Report().to_dict()
    report.pop("other", None)
    report.pop("Date", None)
    # the running code's version (an editable install's metadata may be older)
    report["hpcinv"] = __version__
    return {**report, "blas": blas_libraries()}
