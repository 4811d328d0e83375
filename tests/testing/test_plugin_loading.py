"""The plugin loads through the pytest11 entry point and imports no framework at start-up."""

from __future__ import annotations

import pytest


def test_loading_the_plugin_imports_no_framework(pytester: pytest.Pytester) -> None:
    # A subprocess: this process has torch and jax imported already.
    pytester.makepyfile(
        """
        import sys

        HEAVY = ("torch", "jax", "jaxlib", "scipy", "numpy", "mpmath")

        def test_nothing_heavy_is_imported(request):
            assert request.config.pluginmanager.has_plugin("klverify")
            assert "klverify.testing.plugin" in sys.modules
            loaded = sorted(m for m in HEAVY if m in sys.modules)
            assert loaded == [], f"plugin start-up imported {loaded}"
        """
    )
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        ["klverify: backends numpy, scipy, torch, jax; devices are listed after collection*"]
    )


def test_options_appear_in_help(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(
        [
            "klverify: KL divergence checks:",
            "*--klverify-lint*",
            "*--klverify-backends=NAMES*",
            "*--klverify-devices=DEVICES*",
            "*--klverify-report=PATH*",
        ]
    )


def test_marker_is_registered(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.klverify(backends=None, dtypes=None):*"])


def test_no_summary_line_without_checks(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_plain():\n    assert True\n")
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)
    result.stdout.no_fnmatch_line("klverify: * KL check*")
