"""The instruction-count benchmark reads callgrind's files and tables as they are written.

``benchmarks/instructions.py`` runs each training step under valgrind's callgrind; these
tests check its parsing on text in callgrind's formats (valgrind itself is not needed).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import instructions  # benchmarks/ is a folder of scripts, not a package

CALLGRIND_OUT = """\
# callgrind format
version: 1
creator: callgrind-3.22.0
pid: 6207
cmd:  python _instructions_worker.py --impl ours
part: 1

events: Ir
summary: 0
fl=(1) ???
fn=(1) mkl_blas_avx2_sgemm_kernel_0
0 102970836
totals: 709792100
"""

ANNOTATED = """\
--------------------------------------------------------------------------------
Ir
--------------------------------------------------------------------------------
709,792,100 (100.0%)  PROGRAM TOTALS

--------------------------------------------------------------------------------
Ir                    file:function
--------------------------------------------------------------------------------
102,970,836 (14.51%)  ???:mkl_blas_avx2_sgemm_kernel_0 [/venv/lib/libtorch_cpu.so]
    300,000 ( 0.04%)  ???:Sleef_expm1f8_u10avx2 [/venv/lib/libtorch_cpu.so]
     12,345 ( 0.00%)  ???:at::native::add(at::Tensor const&, c10::Scalar) [/lib/a.so]
      1,000 ( 0.00%)  Python/ceval.c:_PyEval_EvalFrameDefault'2 [/usr/lib/libpython3.11.so]
"""


def test_the_totals_line_is_the_instruction_count() -> None:
    assert instructions.parse_totals(CALLGRIND_OUT) == 709792100
    with pytest.raises(ValueError, match="totals"):
        instructions.parse_totals("events: Ir\n")


def test_functions_are_read_without_their_object_and_without_the_total() -> None:
    counts = instructions.parse_functions(ANNOTATED)
    assert counts == {
        "???:mkl_blas_avx2_sgemm_kernel_0": 102970836,
        "???:Sleef_expm1f8_u10avx2": 300000,
        "???:at::native::add(at::Tensor const&, c10::Scalar)": 12345,
        "Python/ceval.c:_PyEval_EvalFrameDefault'2": 1000,
    }


def test_the_largest_differences_per_step_come_first_whatever_their_sign() -> None:
    base = {"a": 1000, "b": 500, "c": 10}
    other = {"a": 1000, "b": 100, "c": 310, "d": 50}
    diffs = instructions.top_differences(base, other, steps=10, n=3)
    assert diffs == [("b", -40.0), ("c", 30.0), ("d", 5.0)]
