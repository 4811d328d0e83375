"""The values of the ``kl_backend`` fixture: one per installed backend × device (× dtype).

Building the list imports the frameworks (listing CUDA devices needs torch), so it runs
only for tests that use ``kl_backend``, once per session, never at pytest start-up.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

# The reference is exact and host-only; it has its own fixture (``kl_reference``).
FIXTURE_BACKENDS = ("numpy", "scipy", "torch", "jax")
DEFAULT_DTYPE = "float32"


@dataclass(frozen=True)
class KLBackend:
    """One backend on one device, as a test sees it through the ``kl_backend`` fixture.

    ``dtype`` is the marker's dtype for this case, or ``float32`` (what training runs in)
    when the test did not narrow dtypes.
    """

    name: str
    device: str
    dtype: str = DEFAULT_DTYPE

    @property
    def backend(self) -> Any:
        from klverify.backends import get_backend

        return get_backend(self.name)

    @property
    def dtypes(self) -> tuple[str, ...]:
        return tuple(self.backend.dtypes())

    def array(self, values: Any, dtype: str | None = None) -> Any:
        """A native array of ``values`` in ``dtype`` (default: this case's) on this device."""
        import numpy as np

        return self.backend.array(
            np.asarray(values, dtype=np.float64), dtype or self.dtype, self.device
        )

    def to_numpy(self, x: Any) -> Any:
        """float64 NumPy copy of a native array, on the host."""
        return self.backend.to_float64(x)

    def kl(self, p: Any, q: Any, **kwargs: Any) -> Any:
        """``klverify.kl`` through this backend (NumPy inputs are converted to it)."""
        from klverify.divergence import kl

        return kl(p, q, backend=self.name, **kwargs)

    @property
    def id(self) -> str:
        return f"{self.name}-{self.device}"


@dataclass(frozen=True)
class Case:
    """A parameter of ``kl_backend``: a backend to run, or a reason it is skipped."""

    id: str
    value: KLBackend | None
    skip: str = ""


def _split(values: Iterable[str] | str | None) -> list[str] | None:
    if values is None:
        return None
    if isinstance(values, str):
        values = [values]
    out = [v.strip() for item in values for v in str(item).split(",") if v.strip()]
    return out or None


def _device_matches(device: str, wanted: str) -> bool:
    """``cuda`` selects every ``cuda:N``; ``cuda:0`` only itself."""
    return device == wanted or device.startswith(wanted + ":")


def check_names(names: Sequence[str], where: str) -> None:
    unknown = [n for n in names if n not in FIXTURE_BACKENDS]
    if unknown:
        hint = (
            " (the reference has its own fixture, kl_reference)" if "reference" in unknown else ""
        )
        raise ValueError(
            f"{where}: unknown backend(s) {', '.join(map(repr, unknown))}{hint}; "
            f"choose from {', '.join(FIXTURE_BACKENDS)}"
        )


def build_cases(
    *,
    option_backends: Iterable[str] | str | None = None,
    option_devices: Iterable[str] | str | None = None,
    marker_backends: Iterable[str] | str | None = None,
    marker_dtypes: Iterable[str] | str | None = None,
    is_installed: Callable[[str], bool] | None = None,
    devices_of: Callable[[str], list[str]] | None = None,
    dtypes_of: Callable[[str], tuple[str, ...]] | None = None,
) -> list[Case]:
    """Every (backend, device[, dtype]) case, runnable or skipped with a reason.

    Options narrow the session, the marker narrows one test; both must name known
    backends (ValueError otherwise). What is asked for but missing (a framework not
    installed, a device not found, a dtype the backend does not compute in) becomes a
    skipped case, so the test report shows what was not tested.
    """
    from klverify.backends import SPECS, get_backend
    from klverify.backends import is_installed as _installed

    is_installed = is_installed or _installed
    devices_of = devices_of or (lambda name: get_backend(name).devices())
    dtypes_of = dtypes_of or (lambda name: tuple(get_backend(name).dtypes()))

    chosen = _split(option_backends)
    if chosen is not None:
        check_names(chosen, "--klverify-backends")
    narrowed = _split(marker_backends)
    if narrowed is not None:
        check_names(narrowed, "@pytest.mark.klverify(backends=...)")
    dtypes = _split(marker_dtypes)
    if dtypes is not None:
        from klverify.backends.base import DTYPE_EPS

        bad = [d for d in dtypes if d not in DTYPE_EPS]
        if bad:
            raise ValueError(
                f"@pytest.mark.klverify(dtypes=...): unknown dtype(s) {', '.join(map(repr, bad))}; "
                f"choose from {', '.join(DTYPE_EPS)}"
            )
    wanted_devices = _split(option_devices)

    names = [
        n
        for n in FIXTURE_BACKENDS
        if (chosen is None or n in chosen) and (narrowed is None or n in narrowed)
    ]
    if not names:
        return [
            Case(
                "no-backend",
                None,
                f"@pytest.mark.klverify(backends={narrowed}) selects none of the backends "
                f"chosen with --klverify-backends={','.join(chosen or [])}",
            )
        ]
    cases: list[Case] = []
    for name in names:
        if not is_installed(name):
            cases.append(
                Case(
                    name,
                    None,
                    f"{name} is not installed: `pip install klverify[{SPECS[name].extra}]` "
                    "to test with it",
                )
            )
            continue
        found = devices_of(name)
        if wanted_devices is None:
            devices = found
        else:
            devices = [d for d in found if any(_device_matches(d, w) for w in wanted_devices)]
            for w in wanted_devices:
                if not any(_device_matches(d, w) for d in found):
                    cases.append(
                        Case(
                            f"{name}-{w}",
                            None,
                            f"{name} found no device {w!r} (it has {', '.join(found)})",
                        )
                    )
        supported = dtypes_of(name)
        for device in devices:
            if dtypes is None:
                default = DEFAULT_DTYPE if DEFAULT_DTYPE in supported else supported[0]
                cases.append(Case(f"{name}-{device}", KLBackend(name, device, default)))
                continue
            for dtype in dtypes:
                case_id = f"{name}-{device}-{dtype}"
                if dtype in supported:
                    cases.append(Case(case_id, KLBackend(name, device, dtype)))
                else:
                    cases.append(Case(case_id, None, f"{name} does not compute in {dtype}"))
    return cases
