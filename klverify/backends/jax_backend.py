"""JAX backend: a log-space path that runs under ``jax.jit``, and the plain
``jax.scipy.special.rel_entr`` and ``optax.kl_divergence`` paths as users write them.

float64 needs JAX's x64 mode; the backend turns it on (``jax.enable_x64``) only around
computations whose inputs are float64, so it never changes the user's global setting.
Half-precision inputs are computed in float32.
"""

from __future__ import annotations

import contextlib
import importlib.util
from typing import Any

import numpy as np

from klverify.backends.base import Backend, Path, ValueSummary


class JaxBackend(Backend):
    name = "jax"
    framework = "jax"
    extra = "jax"
    has_autograd = True

    def __init__(self) -> None:
        import jax
        import jax.numpy as jnp

        self.jax = jax
        self.jnp = jnp
        self._has_optax = importlib.util.find_spec("optax") is not None

    def is_array(self, x: Any) -> bool:
        return isinstance(x, self.jax.Array)

    def version(self) -> str:
        return self.jax.__version__

    def _device_map(self) -> dict[str, Any]:
        devices = {"cpu": self.jax.devices("cpu")[0]}
        for platform in ("cuda", "rocm", "gpu"):
            try:
                found = self.jax.devices(platform)
            except RuntimeError:
                continue
            for d in found:
                devices[f"{'cuda' if platform in ('cuda', 'gpu') else platform}:{d.id}"] = d
            break
        return devices

    def devices(self) -> list[str]:
        return list(self._device_map())

    def dtypes(self) -> tuple[str, ...]:
        return ("float64", "float32", "float16", "bfloat16")

    def paths(self) -> dict[str, Path]:
        paths = {
            "safe": Path(
                "safe",
                "jit-compiled log-space terms, masks handled",
                self._call(self._safe_impl),
                False,
            ),
            "rel_entr": Path(
                "rel_entr",
                "jax.scipy.special.rel_entr(softmax(p), softmax(q)) as users write it",
                self._call(self._rel_entr_impl),
                True,
            ),
        }
        if self._has_optax:
            paths["optax"] = Path(
                "optax",
                "optax.losses.kl_divergence(log_softmax(q), softmax(p)) as users write it",
                self._call(self._optax_impl),
                True,
                gives_rows=True,
            )
            paths["optax_log_target"] = Path(
                "optax_log_target",
                "optax.losses.kl_divergence_with_log_targets(log_softmax(q), log_softmax(p))",
                self._call(self._optax_log_target_impl),
                True,
                gives_rows=True,
            )
        return paths

    def context(self, *arrays: Any) -> contextlib.AbstractContextManager[Any]:
        """x64 mode around work on float64 arrays only; the user's global setting is kept."""
        if any(str(getattr(a, "dtype", "")) == "float64" for a in arrays):
            return self.jax.enable_x64(True)
        return contextlib.nullcontext()

    def array(self, values: np.ndarray, dtype: str, device: str = "cpu") -> Any:
        import ml_dtypes  # a jax dependency: gives NumPy a bfloat16

        target = self._device_map()[device]
        host = np.asarray(values, dtype=np.float64)
        # Round on the host from float64 straight to the dtype, so every framework sees
        # the same rounded values.
        np_dtype = ml_dtypes.bfloat16 if dtype == "bfloat16" else np.dtype(dtype)
        with self.context(host if dtype == "float64" else None):
            return self.jax.device_put(self.jnp.asarray(host.astype(np_dtype)), target)

    def to_float64(self, x: Any) -> np.ndarray:
        return np.asarray(x).astype(np.float64)

    def dtype_name(self, x: Any) -> str:
        return str(x.dtype)

    def device_of(self, x: Any) -> str:
        (device,) = x.devices()
        return "cpu" if device.platform == "cpu" else f"cuda:{device.id}"

    def summarize(self, x: Any, space: str, axis: int) -> ValueSummary | None:
        if isinstance(x, self.jax.core.Tracer):
            return None  # values unknown while tracing under jit/grad: shape checks only
        from klverify.backends.numpy_backend import summarize_numpy

        host = np.asarray(x)
        if host.dtype.name == "bfloat16":
            host = host.astype(np.float32)
        return summarize_numpy(host, space, axis)

    # ------------------------------------------------------------------ paths
    # Each path is a pure function of (p, q, temperature) with static (space, axis),
    # compiled with jax.jit as users compile their losses; `_jit` caches the compiled one.
    def _jit(self, impl: Any) -> Any:
        cache = self.__dict__.setdefault("_compiled", {})
        if impl.__name__ not in cache:
            cache[impl.__name__] = self.jax.jit(impl, static_argnames=("space", "axis"))
        return cache[impl.__name__]

    def _call(self, impl: Any) -> Any:
        def fn(p: Any, q: Any, space: str, temperature: float, axis: int) -> Any:
            return self._jit(impl)(p, q, temperature, space=space, axis=axis)

        fn.impl = impl  # type: ignore[attr-defined]
        return fn

    def _log_probs(self, x: Any, space: str, temperature: Any, axis: int) -> Any:
        if space == "logits":
            return self.jax.nn.log_softmax(x / temperature, axis=axis)
        return self.jnp.log(x) if space == "prob" else x

    def _probs(self, x: Any, space: str, temperature: Any, axis: int) -> Any:
        if space == "logits":
            return self.jax.nn.softmax(x / temperature, axis=axis)
        return self.jnp.exp(x) if space == "log_prob" else x

    def _safe_impl(self, p: Any, q: Any, temperature: Any, space: str, axis: int) -> Any:
        jnp = self.jnp
        if p.dtype in (jnp.float16, jnp.bfloat16):
            p, q = p.astype(jnp.float32), q.astype(jnp.float32)
        lp = self._log_probs(p, space, temperature, axis)
        lq = self._log_probs(q, space, temperature, axis)
        masked = lp == -jnp.inf
        # Where the student masks an outcome the teacher gives mass (read from log p, as
        # exp(log p) may underflow to 0) the KL is +inf, not 0·inf = NaN.
        infinite = (lq == -jnp.inf) & ~masked
        # Double where: the unselected branch never sees -inf - -inf, so no NaN gradient.
        lp0 = jnp.where(masked, 0.0, lp)
        diff = jnp.where(masked | infinite, 0.0, lp0 - jnp.where(masked | infinite, 0.0, lq))
        terms = jnp.where(masked, 0.0, jnp.exp(lp0) * diff)
        return jnp.where(infinite, jnp.inf, terms)

    def _rel_entr_impl(self, p: Any, q: Any, temperature: Any, space: str, axis: int) -> Any:
        from jax.scipy.special import rel_entr

        return rel_entr(
            self._probs(p, space, temperature, axis), self._probs(q, space, temperature, axis)
        )

    def _optax_impl(self, p: Any, q: Any, temperature: Any, space: str, axis: int) -> Any:
        import optax

        return optax.losses.kl_divergence(
            self._log_probs(q, space, temperature, axis),
            self._probs(p, space, temperature, axis),
            axis=axis,
        )

    def _optax_log_target_impl(
        self, p: Any, q: Any, temperature: Any, space: str, axis: int
    ) -> Any:
        import optax

        return optax.losses.kl_divergence_with_log_targets(
            self._log_probs(q, space, temperature, axis),
            self._log_probs(p, space, temperature, axis),
            axis=axis,
        )

    def grad(
        self, p: Any, q: Any, *, temperature: float, axis: int, path: str = "safe"
    ) -> np.ndarray | None:
        """jax.grad of the summed path, compiled once per path (static space and axis)."""
        impl = self.paths()[path].fn.impl
        cache = self.__dict__.setdefault("_compiled_grads", {})
        if path not in cache:

            def total(s: Any, p: Any, temperature: Any, axis: int) -> Any:
                return impl(p, s, temperature, space="logits", axis=axis).sum()

            cache[path] = self.jax.jit(self.jax.grad(total), static_argnames=("axis",))
        with self.context(p, q):
            return self.to_float64(cache[path](q, p, temperature, axis=axis))
