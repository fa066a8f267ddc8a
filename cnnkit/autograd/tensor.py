"""``Tensor``: a NumPy array with an optional gradient and the op that made it.

Dtype rules (as PyTorch): Python floats and lists become float32; NumPy arrays
keep their dtype (float64 stays float64, integers stay integers, for labels
and indices). A Python scalar combined with a tensor takes the tensor's dtype,
so float32 math never silently upcasts to float64.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .._validate import check_dim, check_dims, check_generator
from . import basic_ops as ops
from .function import Function
from . import engine
from .grad_mode import is_grad_enabled

DEFAULT_DTYPE = np.float32


def _as_array(data: Any, dtype=None) -> np.ndarray:
    if isinstance(data, Tensor):
        data = data.data
    if isinstance(data, np.ndarray):
        return data if dtype is None else data.astype(dtype, copy=False)
    arr = np.asarray(data)
    if dtype is not None:
        return arr.astype(dtype, copy=False)
    if arr.dtype == np.float64 and not isinstance(data, np.generic):
        arr = arr.astype(DEFAULT_DTYPE)  # Python floats / lists: float32 as torch.tensor
    return arr


class Tensor:
    """An n-dimensional array that records operations for reverse-mode autograd.

    ``Tensor(data, requires_grad=False, dtype=None)``; ``.data`` is the NumPy
    array, ``.grad`` the accumulated gradient (a NumPy array or ``None``).

    ``_version`` counts the in-place changes made through the tensor (``zero_``,
    ``fill_``, ``copy_``, ``add_``, ``mul_``, ``t[index] = value``, optimizer steps,
    ``load_state_dict``); backward refuses to use a saved tensor whose version
    changed (see :mod:`cnnkit.autograd.function`). Views made by reshape, permute,
    indexing and :meth:`detach` share their base's version, as in PyTorch. Writes to
    ``.data`` or ``.numpy()`` themselves are not tracked (as ``torch.Tensor.data``).
    """

    __array_priority__ = 1000  # make ndarray <op> Tensor call Tensor's reflected op

    def __init__(self, data: Any, requires_grad: bool = False, dtype=None):
        self.data = _as_array(data, dtype)
        if requires_grad and not np.issubdtype(self.data.dtype, np.floating):
            raise TypeError(
                f"requires_grad=True needs a floating dtype, got {self.data.dtype}"
            )
        self.requires_grad = bool(requires_grad)
        self.grad: np.ndarray | None = None
        self._op = None
        self._retains_grad = False
        self._version_counter = [0]

    @classmethod
    def _wrap(cls, data: np.ndarray, requires_grad: bool = False, views=()) -> "Tensor":
        """A tensor around ``data`` (no copy); it shares the version counter of the
        first tensor in ``views`` whose memory ``data`` overlaps (a view of it)."""
        t = cls.__new__(cls)
        t.data = data if isinstance(data, np.ndarray) else np.asarray(data)
        t.requires_grad = requires_grad
        t.grad = None
        t._op = None
        t._retains_grad = False
        t._version_counter = [0]
        for v in views:  # the same array, or a view of it?
            if isinstance(v, Tensor) and (v.data is t.data or (
                    t.data.base is not None and np.may_share_memory(t.data, v.data))):
                t._version_counter = v._version_counter
                break
        return t

    @property
    def _version(self) -> int:
        """The number of in-place changes made to this tensor's memory (shared with its views)."""
        return self._version_counter[0]

    def _bump_version(self) -> None:
        """Record an in-place change of ``data`` (cnnkit's own in-place writers call this)."""
        self._version_counter[0] += 1

    def _check_inplace(self, name: str) -> None:
        if self.requires_grad and is_grad_enabled():
            if self._op is None:
                raise RuntimeError(f"{name}: a leaf tensor that requires grad is being used in an in-place "
                                   f"operation; wrap it in `with cnnkit.no_grad():` (as optimizers do)")
            raise RuntimeError(f"{name}: in-place operations on a tensor of a recorded graph are not "
                               f"differentiable in cnnkit; use the out-of-place operation")

    # ----------------------------------------------------------------- basics
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def T(self) -> "Tensor":
        return self.permute(*reversed(range(self.ndim)))

    @property
    def is_leaf(self) -> bool:
        return self._op is None

    @property
    def grad_fn(self):
        """The op that produced this tensor (``None`` for leaves)."""
        return self._op

    def dim(self) -> int:
        return self.data.ndim

    def numel(self) -> int:
        return self.data.size

    def __len__(self) -> int:
        return len(self.data)

    def numpy(self) -> np.ndarray:
        """The underlying array (shared, not copied), as ``torch.Tensor.numpy``."""
        return self.data

    def item(self):
        return self.data.item()

    def tolist(self):
        return self.data.tolist()

    def __array__(self, dtype=None, copy=None):
        if dtype is None:
            return self.data
        return self.data.astype(dtype)

    def detach(self) -> "Tensor":
        """A new leaf sharing the data (and its version counter), cut from the graph."""
        return Tensor._wrap(self.data, views=(self,))

    def requires_grad_(self, mode: bool = True) -> "Tensor":
        if mode and not np.issubdtype(self.data.dtype, np.floating):
            raise TypeError(f"requires_grad=True needs a floating dtype, got {self.data.dtype}")
        self.requires_grad = bool(mode)
        return self

    def retain_grad(self) -> None:
        """Keep ``.grad`` for this non-leaf tensor after backward."""
        self._retains_grad = True

    # ------------------------------------------------------- in-place (no grad)
    def zero_(self) -> "Tensor":
        """Fill with zeros, in place."""
        return self.fill_(0)

    def fill_(self, value) -> "Tensor":
        """Fill with ``value``, in place."""
        self._check_inplace("fill_")
        self.data[...] = value.data if isinstance(value, Tensor) else value
        self._bump_version()
        return self

    def copy_(self, src) -> "Tensor":
        """Copy ``src`` (broadcast, cast to this dtype) into this tensor, in place."""
        self._check_inplace("copy_")
        np.copyto(self.data, src.data if isinstance(src, Tensor) else np.asarray(src), casting="unsafe")
        self._bump_version()
        return self

    def add_(self, other, alpha=1) -> "Tensor":
        """``self += alpha * other``, in place."""
        self._check_inplace("add_")
        other = other.data if isinstance(other, Tensor) else other
        self.data += other if alpha == 1 else np.asarray(alpha * np.asarray(other), dtype=self.dtype)
        self._bump_version()
        return self

    def mul_(self, other) -> "Tensor":
        """``self *= other``, in place."""
        self._check_inplace("mul_")
        self.data *= other.data if isinstance(other, Tensor) else other
        self._bump_version()
        return self

    def __setitem__(self, index, value) -> None:
        """``t[index] = value``, in place (not differentiable: under ``no_grad`` or on tensors without grad)."""
        self._check_inplace("__setitem__")
        if isinstance(index, Tensor):
            index = index.data
        elif isinstance(index, tuple):
            index = tuple(i.data if isinstance(i, Tensor) else i for i in index)
        self.data[index] = value.data if isinstance(value, Tensor) else value
        self._bump_version()

    def astype(self, dtype) -> "Tensor":
        return _Cast.apply(self, dtype=np.dtype(dtype))

    def float(self) -> "Tensor":
        return self.astype(np.float32)

    def double(self) -> "Tensor":
        return self.astype(np.float64)

    def backward(self, grad=None) -> None:
        """Accumulate the gradient of this tensor into every leaf that requires grad."""
        engine.backward(self, grad)

    def __repr__(self) -> str:
        body = np.array2string(self.data, separator=", ", prefix="tensor(")
        extra = ""
        if self.data.dtype != DEFAULT_DTYPE:
            extra += f", dtype={self.data.dtype}"
        if self._op is not None:
            extra += f", grad_fn={self._op.name}"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    # ------------------------------------------------------------ arithmetic
    def _other(self, other):
        """The other operand of a binary op: tensors and arrays as they are; a
        Python/NumPy scalar takes this tensor's floating dtype (no upcast), or
        float32 when a float meets an integer tensor (as PyTorch)."""
        if isinstance(other, (Tensor, np.ndarray)):
            return other
        if np.issubdtype(self.data.dtype, np.floating):
            return np.asarray(other, dtype=self.data.dtype)
        if isinstance(other, (float, np.floating)):
            return np.asarray(other, dtype=DEFAULT_DTYPE)
        return other  # an int stays a weak Python scalar: int32 + 1 stays int32

    def __add__(self, other):
        return ops.Add.apply(self, self._other(other))

    def __radd__(self, other):
        return ops.Add.apply(self._other(other), self)

    def __sub__(self, other):
        return ops.Sub.apply(self, self._other(other))

    def __rsub__(self, other):
        return ops.Sub.apply(self._other(other), self)

    def __mul__(self, other):
        return ops.Mul.apply(self, self._other(other))

    def __rmul__(self, other):
        return ops.Mul.apply(self._other(other), self)

    def __truediv__(self, other):
        return ops.Div.apply(self, self._other(other))

    def __rtruediv__(self, other):
        return ops.Div.apply(self._other(other), self)

    def __neg__(self):
        return ops.Neg.apply(self)

    def __pos__(self):
        return self

    def __pow__(self, exponent):
        return ops.Pow.apply(self, self._other(exponent))

    def __rpow__(self, base):
        return ops.Pow.apply(self._other(base), self)

    def __matmul__(self, other):
        return ops.MatMul.apply(self, other if isinstance(other, Tensor) else np.asarray(other))

    def __rmatmul__(self, other):
        return ops.MatMul.apply(np.asarray(other), self)

    # comparisons give boolean tensors without gradient
    def _cmp(self, other, fn):
        other = other.data if isinstance(other, Tensor) else other
        return Tensor._wrap(fn(self.data, other))

    def __lt__(self, other):
        return self._cmp(other, np.less)

    def __le__(self, other):
        return self._cmp(other, np.less_equal)

    def __gt__(self, other):
        return self._cmp(other, np.greater)

    def __ge__(self, other):
        return self._cmp(other, np.greater_equal)

    def eq(self, other):
        return self._cmp(other, np.equal)

    def ne(self, other):
        return self._cmp(other, np.not_equal)

    __hash__ = object.__hash__  # tensors are identity-hashed (== is not overloaded)

    # ---------------------------------------------------------- elementwise
    def exp(self):
        return ops.Exp.apply(self)

    def log(self):
        return ops.Log.apply(self)

    def sqrt(self):
        return ops.Sqrt.apply(self)

    def abs(self):
        return ops.Abs.apply(self)

    def clamp(self, min=None, max=None):
        return ops.Clamp.apply(self, lo=min, hi=max)

    clip = clamp

    def relu(self):
        from ..functional import relu

        return relu(self)

    def tanh(self):
        from ..functional import tanh

        return tanh(self)

    def sigmoid(self):
        from ..functional import sigmoid

        return sigmoid(self)

    # ------------------------------------------------------------ reductions
    def sum(self, dim=None, keepdim=False):
        return ops.Sum.apply(self, axis=dim, keepdims=keepdim)

    def mean(self, dim=None, keepdim=False):
        return ops.Mean.apply(self, axis=dim, keepdims=keepdim)

    def max(self, dim=None, keepdim=False):
        return ops.Max.apply(self, axis=dim, keepdims=keepdim)

    def min(self, dim=None, keepdim=False):
        return -ops.Max.apply(-self, axis=dim, keepdims=keepdim)

    def var(self, dim=None, keepdim=False, unbiased=True):
        axes = check_dims(dim, self.ndim)
        mean = self.mean(axes, keepdim=True)
        sq = ((self - mean) ** 2).sum(axes, keepdim=keepdim)
        n = int(np.prod([self.shape[a] for a in axes]))
        denom = n - 1 if unbiased else n
        if denom <= 0:  # no degrees of freedom: NaN, as PyTorch
            return sq * np.asarray(np.nan, dtype=self.dtype)
        return sq / denom

    def argmax(self, dim=None, keepdim=False):
        axis = None if dim is None else check_dim(dim, self.ndim)
        ops.check_nonempty_reduction("argmax", self.shape, () if axis is None or not self.ndim else (axis,), dim is None)
        return Tensor._wrap(np.argmax(self.data, axis=axis if self.ndim else None, keepdims=keepdim))

    def argmin(self, dim=None, keepdim=False):
        axis = None if dim is None else check_dim(dim, self.ndim)
        ops.check_nonempty_reduction("argmin", self.shape, () if axis is None or not self.ndim else (axis,), dim is None)
        return Tensor._wrap(np.argmin(self.data, axis=axis if self.ndim else None, keepdims=keepdim))

    # ----------------------------------------------------------------- shape
    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return ops.Reshape.apply(self, shape=shape)

    view = reshape

    def flatten(self, start_dim=0, end_dim=-1):
        if self.ndim == 0:
            check_dim(start_dim, 0, "start_dim"), check_dim(end_dim, 0, "end_dim")
            return self.reshape(1)
        start, end = check_dim(start_dim, self.ndim, "start_dim"), check_dim(end_dim, self.ndim, "end_dim")
        if start > end:
            raise ValueError(f"flatten: start_dim={start_dim} comes after end_dim={end_dim}")
        return self.reshape(self.shape[:start] + (-1,) + self.shape[end + 1:])

    def permute(self, *axes):
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        if len(axes) != self.ndim:
            raise ValueError(f"permute: the number of dims {len(axes)} does not match the tensor's {self.ndim}")
        dims = tuple(check_dim(a, self.ndim) for a in axes)
        if len(set(dims)) != len(dims):
            raise ValueError(f"permute: duplicate dims are not allowed, got {tuple(axes)}")
        return ops.Permute.apply(self, axes=dims)

    def transpose(self, dim0=-2, dim1=-1):
        axes = list(range(self.ndim))
        if self.ndim == 0:
            check_dim(dim0, 0), check_dim(dim1, 0)
            return self
        d0, d1 = check_dim(dim0, self.ndim), check_dim(dim1, self.ndim)
        axes[d0], axes[d1] = axes[d1], axes[d0]
        return ops.Permute.apply(self, axes=tuple(axes))

    def unsqueeze(self, dim):
        dim = check_dim(dim, self.ndim, extra=1)
        return self.reshape(self.shape[:dim] + (1,) + self.shape[dim:])

    def squeeze(self, dim=None):
        if dim is None:
            return self.reshape(tuple(n for n in self.shape if n != 1))
        dim = check_dim(dim, self.ndim)
        if self.ndim == 0 or self.shape[dim] != 1:
            return self
        return self.reshape(self.shape[:dim] + self.shape[dim + 1:])

    def __getitem__(self, index):
        if isinstance(index, Tensor):
            index = index.data
        elif isinstance(index, tuple):
            index = tuple(i.data if isinstance(i, Tensor) else i for i in index)
        return ops.GetItem.apply(self, index=index)


class _Cast(Function):
    def forward(self, a, dtype):
        self.src = a.dtype
        return a.astype(dtype)

    def backward(self, g):
        return (g.astype(self.src),)


def tensor(data, requires_grad: bool = False, dtype=None) -> Tensor:
    """Make a tensor (copying the data), as ``torch.tensor``."""
    arr = _as_array(data, dtype)
    return Tensor(np.array(arr, copy=True), requires_grad=requires_grad)


def as_tensor(x, dtype=None) -> Tensor:
    """``x`` as a Tensor without copying where possible."""
    if isinstance(x, Tensor) and dtype is None:
        return x
    return Tensor(x, dtype=dtype)


def _sequence(fn: str, tensors) -> list:
    if isinstance(tensors, (Tensor, np.ndarray)) or not isinstance(tensors, (list, tuple)):
        raise TypeError(f"{fn}: tensors must be a list or tuple of tensors, got {type(tensors).__name__}")
    if not tensors:
        raise ValueError(f"{fn}: expected a non-empty list of tensors")
    return list(tensors)


def cat(tensors, dim=0) -> Tensor:
    """Join tensors along an existing dimension ``dim``, as ``torch.cat``."""
    tensors = _sequence("cat", tensors)
    first = np.shape(tensors[0])
    if not first:
        raise ValueError("cat: zero-dimensional tensors cannot be concatenated (use stack)")
    axis = check_dim(dim, len(first), owner="cat")
    for i, t in enumerate(tensors):
        shape = np.shape(t)
        if len(shape) != len(first) or any(a != b for k, (a, b) in enumerate(zip(shape, first)) if k != axis):
            raise ValueError(f"cat: sizes of tensors must match except in dimension {axis}: tensor 0 has shape "
                             f"{tuple(first)}, tensor {i} has shape {tuple(shape)}")
    return ops.Concat.apply(*tensors, axis=axis)


def stack(tensors, dim=0) -> Tensor:
    """Join tensors of one shape along a new dimension ``dim``, as ``torch.stack``."""
    tensors = _sequence("stack", tensors)
    first = np.shape(tensors[0])
    axis = check_dim(dim, len(first), owner="stack", extra=1)
    for i, t in enumerate(tensors):
        if np.shape(t) != first:
            raise ValueError(f"stack: expects each tensor to be equal size, but got {tuple(first)} at entry 0 "
                             f"and {tuple(np.shape(t))} at entry {i}")
    return ops.Stack.apply(*tensors, axis=axis)


def where(condition, x, y) -> Tensor:
    cond = condition.data if isinstance(condition, Tensor) else np.asarray(condition)
    return ops.Where.apply(cond, x, y)


def zeros(*shape, dtype=DEFAULT_DTYPE, requires_grad=False) -> Tensor:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return Tensor(np.zeros(shape, dtype=dtype), requires_grad=requires_grad)


def ones(*shape, dtype=DEFAULT_DTYPE, requires_grad=False) -> Tensor:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return Tensor(np.ones(shape, dtype=dtype), requires_grad=requires_grad)


def randn(*shape, dtype=DEFAULT_DTYPE, requires_grad=False, generator: np.random.Generator | None = None) -> Tensor:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    rng = check_generator(generator, owner="randn") or np.random.default_rng()
    return Tensor(rng.standard_normal(shape).astype(dtype), requires_grad=requires_grad)


__all__ = ["Tensor", "tensor", "as_tensor", "cat", "stack", "where", "zeros", "ones", "randn", "is_grad_enabled"]
