"""``kl_backend``: one case per installed backend × device, narrowed by marker and options."""

from __future__ import annotations

import pytest

from klverify.testing.backend_cases import KLBackend, build_cases

USES_BACKEND = """
import numpy as np
import pytest

def test_kl(kl_backend, kl_reference):
    rng = np.random.default_rng(0)
    p, q = rng.normal(size=(3, 7)), rng.normal(size=(3, 7))
    value = kl_backend.kl(kl_backend.array(p), kl_backend.array(q), space="logits")
    got = float(kl_backend.to_numpy(value))
    assert abs(got - kl_reference(p, q, space="logits")) < 1e-5
    assert kl_backend.dtype == "float32"
"""


def test_runs_once_per_backend_and_device(pytester: pytest.Pytester) -> None:
    ids = [c.id for c in build_cases()]  # cuda devices too, where present
    assert {"numpy-cpu", "scipy-cpu", "torch-cpu", "jax-cpu"} <= set(ids)
    pytester.makepyfile(USES_BACKEND)
    result = pytester.runpytest("-v")
    result.assert_outcomes(passed=len(ids))
    result.stdout.fnmatch_lines(
        ["klverify: devices found: numpy-cpu, scipy-cpu, torch-cpu*, jax-cpu*"]
        + [f"*test_kl[[]{i}[]] PASSED*" for i in ids]
    )


def test_options_narrow_backends_and_skip_missing_devices(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(USES_BACKEND)
    result = pytester.runpytest(
        "-v", "-rs", "--klverify-backends=torch,jax", "--klverify-devices=cpu,cuda:99"
    )
    result.assert_outcomes(passed=2, skipped=2)
    result.stdout.fnmatch_lines(
        [
            "*test_kl[[]torch-cuda:99[]] SKIPPED*",
            "*test_kl[[]torch-cpu[]] PASSED*",
            "*test_kl[[]jax-cuda:99[]] SKIPPED*",
            "*test_kl[[]jax-cpu[]] PASSED*",
            "SKIPPED [[]1[]] *: torch found no device 'cuda:99' (it has cpu*)",
            "SKIPPED [[]1[]] *: jax found no device 'cuda:99' (it has cpu*)",
        ]
    )


def test_ini_options_are_the_defaults(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider\nklverify_backends = numpy\n")
    pytester.makepyfile(USES_BACKEND)
    result = pytester.runpytest("-v")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*test_kl?numpy-cpu? PASSED*"])
    # the command line wins over the ini file
    pytester.runpytest("--klverify-backends=scipy").assert_outcomes(passed=1)


def test_marker_narrows_backends_and_expands_dtypes(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.klverify(backends=["torch", "numpy"], dtypes=["float64", "bfloat16"])
        def test_narrowed(kl_backend):
            x = kl_backend.array([[0.25, 0.75]])
            assert kl_backend.backend.dtype_name(x) == kl_backend.dtype
        """
    )
    result = pytester.runpytest("-v", "-rs")
    result.assert_outcomes(passed=3, skipped=1)
    result.stdout.fnmatch_lines(
        [
            "*test_narrowed?numpy-cpu-float64? PASSED*",
            "*test_narrowed?numpy-cpu-bfloat16? SKIPPED*",
            "*test_narrowed?torch-cpu-float64? PASSED*",
            "*test_narrowed?torch-cpu-bfloat16? PASSED*",
            "SKIPPED [[]1[]] *: numpy does not compute in bfloat16",
        ]
    )


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        ('backends=["reference"]', "*unknown backend(s) 'reference' (the reference has its own*"),
        ('dtypes="float8"', "*unknown dtype(s) 'float8'; choose from float64, float32*"),
        ('"torch"', "*takes only the keywords backends=... and dtypes=...*"),
    ],
)
def test_bad_marker_is_a_clear_collection_error(
    pytester: pytest.Pytester, marker: str, message: str
) -> None:
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.klverify({marker})
        def test_bad(kl_backend):
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([message])
    result.stdout.no_fnmatch_line("*Traceback*")


def test_option_excluding_the_marker_skips_with_a_reason(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.klverify(backends="jax")
        def test_jax_only(kl_backend):
            pass
        """
    )
    result = pytester.runpytest("-rs", "--klverify-backends=torch")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*selects none of the backends chosen with --klverify-backends*"])


def test_a_backend_not_installed_is_skipped_with_the_pip_command() -> None:
    cases = build_cases(
        is_installed=lambda name: name != "jax",
        devices_of=lambda name: ["cpu", "cuda:0"] if name == "torch" else ["cpu"],
        dtypes_of=lambda name: ("float64", "float32"),
    )
    assert [c.id for c in cases] == [
        "numpy-cpu",
        "scipy-cpu",
        "torch-cpu",
        "torch-cuda:0",
        "jax",
    ]
    assert cases[-1].value is None
    assert cases[-1].skip == "jax is not installed: `pip install klverify[jax]` to test with it"
    assert cases[3].value == KLBackend("torch", "cuda:0", "float32")


def test_cuda_selects_every_cuda_device() -> None:
    cases = build_cases(
        option_backends="torch",
        option_devices="cuda",
        devices_of=lambda name: ["cpu", "cuda:0", "cuda:1"],
        dtypes_of=lambda name: ("float32",),
    )
    assert [c.id for c in cases] == ["torch-cuda:0", "torch-cuda:1"]


def test_kl_backend_arrays_live_on_the_case_device(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_device(kl_backend):
            x = kl_backend.array([[0.5, 0.5]])
            assert kl_backend.backend.device_of(x) == kl_backend.device
        """
    )
    pytester.runpytest().assert_outcomes(passed=len(build_cases()))
