"""What the analysis knows about PyTorch, as tables of qualified names.

Every name is canonical (``torch.nn.functional.softmax``, ``torch.nn.KLDivLoss``);
:func:`canonical` folds the other public spellings onto it. Adding a spelling is one row.
"""

from __future__ import annotations

F = "torch.nn.functional."

_ALIASES = {
    "torch.special.softmax": F + "softmax",
    "torch.softmax": F + "softmax",
    "torch.Tensor.softmax": F + "softmax",
    "torch.special.log_softmax": F + "log_softmax",
    "torch.log_softmax": F + "log_softmax",
    "torch.Tensor.log_softmax": F + "log_softmax",
    "torch.special.expit": "torch.sigmoid",
    F + "sigmoid": "torch.sigmoid",
    "torch.Tensor.sigmoid": "torch.sigmoid",
    "torch.Tensor.log": "torch.log",
    "torch.Tensor.exp": "torch.exp",
    "torch.special.exp2": "torch.exp2",
    "torch._C._nn.kl_div": F + "kl_div",
    "torch.nn.modules.loss.KLDivLoss": "torch.nn.KLDivLoss",
    "torch.nn.modules.loss.CrossEntropyLoss": "torch.nn.CrossEntropyLoss",
    "torch.nn.modules.activation.Softmax": "torch.nn.Softmax",
    "torch.nn.modules.activation.LogSoftmax": "torch.nn.LogSoftmax",
    "torch.nn.modules.activation.Sigmoid": "torch.nn.Sigmoid",
    "torch.nn.modules.activation.LogSigmoid": "torch.nn.LogSigmoid",
    "torch.nn.modules.linear.Linear": "torch.nn.Linear",
    "torch.nn.modules.linear.LazyLinear": "torch.nn.Linear",
    "torch.nn.LazyLinear": "torch.nn.Linear",
    "torch.nn.modules.linear.Bilinear": "torch.nn.Linear",
    "torch.nn.Bilinear": "torch.nn.Linear",
}


def canonical(qualname: str) -> str:
    return _ALIASES.get(qualname, qualname)


# Functions whose result is in probability space, and the log-space function to use instead.
PROB_FUNCS = {
    F + "softmax": ("softmax", "F.log_softmax(...)"),
    "torch.sigmoid": ("sigmoid", "F.logsigmoid(...)"),
    "torch.exp": ("exp", "the log-space argument of exp(...) itself"),
    F + "gumbel_softmax": ("gumbel_softmax", "its log: torch.log(...) of a clamped value"),
}
LOG_FUNCS = {
    F + "log_softmax": "log_softmax",
    F + "logsigmoid": "logsigmoid",
    "torch.log": "log",
}
# Results of an affine map: raw scores, never log-probabilities.
LINEAR_FUNCS = frozenset(
    {F + "linear", F + "bilinear", "torch.matmul", "torch.mm", "torch.bmm", "torch.addmm"}
)
# Functions that keep the space of their first argument (same tensor, other shape or dtype).
PRESERVE_FUNCS = frozenset(
    {
        "torch.flatten",
        "torch.squeeze",
        "torch.unsqueeze",
        "torch.reshape",
        "torch.transpose",
        "torch.permute",
        "torch.clamp",
        "torch.clip",
        "torch.narrow",
    }
)
PRESERVE_METHODS = frozenset(
    {
        "detach",
        "clone",
        "contiguous",
        "float",
        "double",
        "half",
        "bfloat16",
        "to",
        "cuda",
        "cpu",
        "view",
        "view_as",
        "reshape",
        "reshape_as",
        "squeeze",
        "unsqueeze",
        "flatten",
        "transpose",
        "permute",
        "t",
        "type",
        "type_as",
        "expand",
        "expand_as",
        "narrow",
        "requires_grad_",
    }
)
CLAMP_METHODS = frozenset({"clamp", "clamp_", "clip", "clamp_min", "clamp_min_"})

KL_FUNCS = frozenset({F + "kl_div", "torch.kl_div"})
KL_MODULE = "torch.nn.KLDivLoss"
CE_FUNCS = frozenset({F + "cross_entropy"})
CE_MODULE = "torch.nn.CrossEntropyLoss"
NO_GRAD = frozenset({"torch.no_grad", "torch.inference_mode", "torch.autograd.no_grad"})

# nn.Module classes whose instances are transforms: result space when the instance is called.
MODULE_SPACES = {
    "torch.nn.Softmax": ("prob", "softmax"),
    "torch.nn.Sigmoid": ("prob", "sigmoid"),
    "torch.nn.LogSoftmax": ("log", "log_softmax"),
    "torch.nn.LogSigmoid": ("log", "logsigmoid"),
    "torch.nn.Linear": ("logits", "linear"),
}
INSTANCE_CLASSES = frozenset({*MODULE_SPACES, KL_MODULE, CE_MODULE})

# Positional parameters after which each spelling takes its options.
KL_PARAMS = {
    F + "kl_div": ("input", "target", "size_average", "reduce", "reduction", "log_target"),
    "torch.kl_div": ("input", "target", "reduction", "log_target"),
    KL_MODULE: ("size_average", "reduce", "reduction", "log_target"),
}
