"""Products with a stage's Jacobian J and Fisher matrix F = JᵀJ at fixed inputs, batched over inputs and vectors.

One forward to the stage is run on `copies` replicas of each input and its graph kept. The vector–Jacobian product
Jᵀu is one backward through it. The Jacobian–vector product Jv uses the double-backward trick: g(d) = Jᵀd is built
once with a graph (d a dummy response), and Jv = ∂⟨g(d), v⟩/∂d is one backward through that graph. This works for
every model whose backward is made of differentiable torch ops (custom autograd Functions included), where
forward-mode AD (`torch.func.jvp`) needs a `jvp` rule on each custom Function. So an F-product costs one
double-backward and one backward pass, and no forward.
"""
from __future__ import annotations

import torch
from torch import Tensor

from ..errors import InputError


class FisherOperator:
    """J, Jᵀ and F = JᵀJ of `model`'s `stage` at inputs x, for blocks of `copies` vectors per input.

    x: (B, *input shape) in the model's input range. Vectors are (B, copies, n) with n = ∏ input shape;
    responses (B, copies, m) with m = ∏ stage shape. The model's parameters must be frozen (`StagedModel` is).
    """

    def __init__(self, model, stage: str, x: Tensor, copies: int = 1):
        self.batch, self.copies = x.shape[0], copies
        self.input_shape = tuple(x.shape[1:])
        self.n = x[0].numel()
        self._x = x.detach().repeat_interleave(copies, dim=0).requires_grad_(True)
        y = model(self._x, [stage])[stage]
        self.m = y[0].numel()
        self._y = y.reshape(y.shape[0], -1)
        if not self._y.requires_grad:
            raise InputError(f"stage '{stage}' of '{model.spec.id}' does not depend on the input; choose another "
                             "stage")
        self._dummy = torch.zeros_like(self._y, requires_grad=True)
        (self._g,) = torch.autograd.grad(self._y, self._x, self._dummy, create_graph=True)

    @property
    def response(self) -> Tensor:
        """(B, m) the stage's response at each input (no grad)."""
        return self._y.detach()[:: self.copies]

    def jvp(self, v: Tensor) -> Tensor:
        """(B, copies, n) → (B, copies, m): J v."""
        if not self._g.requires_grad:  # a backward run without a graph (e.g. a once_differentiable Function)
            raise InputError("the stage's backward is not differentiable (a custom backward without a graph); "
                             "its Jacobian–vector products cannot be formed")
        (out,) = torch.autograd.grad(self._g, self._dummy, v.reshape(self._x.shape), retain_graph=True)
        return out.reshape(self.batch, self.copies, self.m)

    def vjp(self, u: Tensor) -> Tensor:
        """(B, copies, m) → (B, copies, n): Jᵀ u."""
        (out,) = torch.autograd.grad(self._y, self._x, u.reshape(self._y.shape), retain_graph=True)
        return out.reshape(self.batch, self.copies, self.n)

    def fvp(self, v: Tensor) -> tuple[Tensor, Tensor]:
        """(B, copies, n) → (F v, ‖J v‖² per vector (B, copies))."""
        jv = self.jvp(v)
        return self.vjp(jv), jv.square().sum(-1)


def jacobian(model, stage: str, x: Tensor) -> Tensor:
    """(B, *input shape) → (B, m, n) the stage's Jacobian at each input, built from n Jacobian–vector products with
    the unit vectors (one batched double-backward pass over n replicas of each input)."""
    op = FisherOperator(model, stage, x, copies=x[0].numel())
    eye = torch.eye(op.n, dtype=x.dtype, device=x.device).expand(op.batch, op.n, op.n)
    return op.jvp(eye).transpose(1, 2)
