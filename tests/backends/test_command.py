"""``klverify backends``: run as a subprocess, as users run it."""

from __future__ import annotations

import json
import subprocess
import sys

from klverify.backends import SPECS, installed

# Runs only this command's parser, so the test does not depend on other commands.
DRIVER = """
import argparse, sys
from klverify.backends import command
parser = argparse.ArgumentParser(prog="klverify")
command.register(parser.add_subparsers(dest="command"))
args = parser.parse_args(sys.argv[1:])
sys.exit(args.func(args))
"""


def run_driver(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", DRIVER, *args], capture_output=True, text=True, timeout=120
    )


def test_table_lists_every_backend_with_version_devices_dtypes_and_paths():
    result = run_driver("backends")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    header = out.splitlines()[0]
    for column in ("backend", "version", "devices", "dtypes", "safe paths", "plain paths"):
        assert column in header
    lines = {line.split()[0]: line for line in out.splitlines()[2:] if line.strip()}
    assert set(lines) == set(SPECS)
    for name in installed():
        assert "cpu" in lines[name] and "float64" in lines[name] and "safe" in lines[name]
        assert "not installed" not in lines[name]
    if "torch" in installed():
        import torch

        assert torch.__version__ in lines["torch"] and "kl_div" in lines["torch"]


def test_json_has_one_record_per_backend():
    result = run_driver("backends", "--format", "json")
    assert result.returncode == 0, result.stderr
    records = {r["name"]: r for r in json.loads(result.stdout)["backends"]}
    assert list(records) == list(SPECS)
    for name, record in records.items():
        assert record["installed"] == (name in installed())
        assert record["install"] == f"pip install klverify[{SPECS[name].extra}]"
        if record["installed"]:
            assert record["version"] and "cpu" in record["devices"]
            assert "safe" in record["paths"]["safe"]
            assert set(record["paths"]["safe"]).isdisjoint(record["paths"]["plain"])


def test_missing_backend_shows_the_extra_to_install(monkeypatch, capsys):
    import argparse

    import klverify.backends as registry
    from klverify.backends import command

    monkeypatch.setattr(registry, "is_installed", lambda n: n != "jax")
    assert command.run(argparse.Namespace(format="table")) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("jax "))
    assert "not installed (pip install klverify[jax])" in line


def test_importing_the_command_imports_no_numpy():
    code = "import sys, klverify.backends.command; print(sorted({'numpy','torch','jax','scipy'} & set(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.stdout.strip() == "[]", result.stderr


def test_klverify_backends_through_the_real_cli():
    result = subprocess.run(
        [sys.executable, "-m", "klverify", "backends"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert all(name in result.stdout for name in SPECS)


def test_cli_skips_a_command_whose_package_is_missing(monkeypatch):
    from klverify import cli

    monkeypatch.setattr(
        cli, "COMMAND_MODULES", ("klverify.not_built_here.command", "klverify.backends.command")
    )
    parser = cli.build_parser()
    assert parser.parse_args(["backends"]).command == "backends"
