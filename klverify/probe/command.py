"""``klverify probe module:function``: the command line of the probe.

Standard library only at import time (``klverify --help`` must not load numpy or a
framework); the probe itself is imported inside :func:`run`.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import sys
from pathlib import Path
from typing import Any

DESCRIPTION = """\
Diagnose a distillation or KL loss by running it: which direction it computes (forward
KL(teacher||student), reverse, JSD, or none of these), its scale (batchmean, mean, sum,
per-token mean), how it applies the temperature and T^2, whether gradients reach the
teacher and are right for the student, and whether it survives teacher zeros, shared -inf
masks and half precision. Each finding comes with the numbers behind it.

WARNING: this imports MODULE and calls FUNCTION, i.e. it runs your code, dozens of times
on small constructed inputs (torch tensors, else jax arrays). Each call that takes longer
than --timeout is abandoned (left running in a background thread until klverify exits).

Exit status: 0 for a forward-KL loss with no problem found, 1 otherwise, 2 for a
usage error. Why direction matters: docs/why-order-matters.md
"""

SPACES = ("logits", "log_prob", "prob")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "probe",
        help="run a loss function on constructed inputs and say what it computes (runs your code)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "target",
        metavar="MODULE:FUNCTION",
        help="the loss, e.g. mypkg.losses:distill or path/to/file.py:distill; an object "
        "attribute path (losses:Trainer.kd_loss) and a class with a no-argument constructor "
        "(an nn.Module) work too",
    )
    parser.add_argument("--teacher-arg", metavar="NAME", help="the teacher's parameter")
    parser.add_argument("--student-arg", metavar="NAME", help="the student's parameter")
    parser.add_argument(
        "--temperature-arg", metavar="NAME", help="the temperature's parameter, if any"
    )
    parser.add_argument("--teacher-space", choices=SPACES, help="what the teacher argument holds")
    parser.add_argument("--student-space", choices=SPACES, help="what the student argument holds")
    parser.add_argument("--framework", choices=("torch", "jax"), help="default: torch, then jax")
    parser.add_argument(
        "--timeout", type=float, default=10.0, metavar="SECONDS", help="per call (default 10)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the constructed inputs")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.set_defaults(func=run)


def load_target(spec: str) -> Any:
    """Import ``module:attr.path`` (or ``file.py:attr``); UsageError when it cannot."""
    from klverify.cli import UsageError

    module_name, sep, attr_path = spec.partition(":")
    if not sep or not module_name or not attr_path:
        raise UsageError(
            f"{spec!r} is not MODULE:FUNCTION: write e.g. mypkg.losses:distill_loss "
            "or path/to/losses.py:distill_loss"
        )
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # like `python -m`: modules in the current folder
    try:
        if module_name.endswith(".py"):
            path = Path(module_name)
            if not path.is_file():
                raise UsageError(f"{module_name}: no such file; give a path to a .py file")
            loader_spec = importlib.util.spec_from_file_location(path.stem, path)
            assert loader_spec is not None and loader_spec.loader is not None
            module = importlib.util.module_from_spec(loader_spec)
            sys.modules[path.stem] = module
            loader_spec.loader.exec_module(module)
        else:
            module = importlib.import_module(module_name)
    except UsageError:
        raise
    except ModuleNotFoundError as exc:
        raise UsageError(
            f"cannot import {module_name!r} ({exc}): run from the folder that contains it, "
            "install the package, or pass a path to the .py file"
        ) from None
    except Exception as exc:
        raise UsageError(
            f"importing {module_name!r} raised {type(exc).__name__}: {exc}; fix the module "
            "or probe it from Python with klverify.probe(fn)"
        ) from None
    obj: Any = module
    for part in attr_path.split("."):
        if not hasattr(obj, part):
            raise UsageError(
                f"{module_name} has no attribute {attr_path!r} (missing {part!r}); check "
                "the spelling after the colon"
            )
        obj = getattr(obj, part)
    if isinstance(obj, type):
        try:
            obj = obj()
        except Exception as exc:
            raise UsageError(
                f"{attr_path} is a class and calling it with no arguments raised "
                f"{type(exc).__name__}: {exc}; point at an instance or a function instead"
            ) from None
    if not callable(obj):
        raise UsageError(f"{spec} is a {type(obj).__name__}, not callable: point at the loss")
    return obj


def run(args: argparse.Namespace) -> int:
    from klverify.cli import EXIT_FAILURE, EXIT_OK, UsageError
    from klverify.probe import probe

    if args.timeout <= 0:
        raise UsageError(f"--timeout {args.timeout:g}: give a positive number of seconds")
    fn = load_target(args.target)
    result = probe(
        fn,
        teacher_arg=args.teacher_arg,
        student_arg=args.student_arg,
        temperature_arg=args.temperature_arg,
        teacher_space=args.teacher_space,
        student_space=args.student_space,
        framework=args.framework,
        timeout=args.timeout,
        seed=args.seed,
    )
    result.target = args.target
    if result.status == "bad_signature":
        raise UsageError(" ".join(result.verdict))
    if args.format == "json":
        print(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
    else:
        print(result)
    sys.stdout.flush()
    return EXIT_OK if result.ok else EXIT_FAILURE
