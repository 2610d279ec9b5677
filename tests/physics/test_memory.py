"""Never a solver traceback for size: the memory check before a factorization, and a MUMPS
memory failure reported the same way."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from hpcinv.errors import SizeError
from hpcinv.physics import memory
from hpcinv.physics.solvers import factorize


def _laplacian_3d(n):
    """A 3D 7-point Laplacian plus identity on n^3 unknowns (symmetric positive definite)."""
    import scipy.sparse as sp

    one = sp.diags([-np.ones(n - 1), 2 * np.ones(n), -np.ones(n - 1)], [-1, 0, 1])
    eye = sp.identity(n)
    A = (
        sp.kron(sp.kron(one, eye), eye)
        + sp.kron(sp.kron(eye, one), eye)
        + sp.kron(sp.kron(eye, eye), one)
    )
    return (A + sp.identity(n**3)).tocsr()


@pytest.fixture
def limit():
    yield memory.set_memory_limit
    memory.set_memory_limit(None)


def test_tiny_limit_stops_before_factoring_with_one_clear_line(limit):
    limit(memory.resident_bytes() + 1024**2)  # 1 MiB beyond what the process holds
    with pytest.raises(SizeError) as info:
        factorize(_laplacian_3d(24), "mumps", what="tile 7", extra_bytes=5e8)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("factoring tile 7 (13,824 unknowns) needs ")
    assert "GiB are available within this worker's memory limit" in message
    assert "physics.n_tiles" in message and "more memory" in message


def test_enough_memory_factors_and_reports_mumps_estimate(limit):
    limit(memory.resident_bytes() + 4 * 1024**3)
    A = _laplacian_3d(12)
    f = factorize(A, "mumps")
    b = np.ones(A.shape[0])
    np.testing.assert_allclose(A @ f.solve(b), b, rtol=1e-10)
    assert f.analysis["memory_bytes"] > 0 and f.analysis["flops"] > 0
    f.free()


def test_mumps_out_of_memory_is_reported_as_a_size_error():
    """An address-space limit makes MUMPS's own allocation fail (INFOG(1) = -13) after the
    check passed (no limit set): the same one-line SizeError, no MUMPS traceback."""
    script = textwrap.dedent(
        """
        import resource, numpy as np, scipy.sparse as sp
        from hpcinv.errors import SizeError
        from hpcinv.physics import memory
        from hpcinv.physics.solvers import factorize
        n = 40
        one = sp.diags([-np.ones(n - 1), 2 * np.ones(n), -np.ones(n - 1)], [-1, 0, 1])
        eye = sp.identity(n)
        A = (sp.kron(sp.kron(one, eye), eye) + sp.kron(sp.kron(eye, one), eye)
             + sp.kron(sp.kron(eye, eye), one) + sp.identity(n**3)).tocsr()
        import psutil, os
        factorize(sp.identity(8, format="csr") * 2.0, "mumps").free()  # libraries loaded
        vms = psutil.Process(os.getpid()).memory_info().vms
        # the check sees the machine's memory; the kernel allows only 60 MB more
        resource.setrlimit(resource.RLIMIT_AS, (vms + 60 * 2**20, resource.RLIM_INFINITY))
        try:
            factorize(A, "mumps", what="tile 3")
        except SizeError as error:
            print("SIZE", error)
        except Exception as error:
            print("OTHER", type(error).__name__, error)
        else:
            print("FACTORED")
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert out.stdout.startswith("SIZE factoring tile 3 ran out of memory in the solver"), (
        out.stdout + out.stderr
    )
    assert "MUMPS error -13" in out.stdout and "physics.n_tiles" in out.stdout
