"""app.settings.LIMITS: every bound is positive, and the core reads each one from its argument
(a tiny custom limit is refused with that limit's own value, not the default's)."""

from __future__ import annotations

import dataclasses
from numbers import Real

import pytest

from app.core import nets, stepper
from app.core.errors import InputError
from app.core.kernels import ConvSpec, KernelError, KernelLimits, validate_kernel
from app.settings import LIMITS


def numeric_fields(obj: object, prefix: str = "LIMITS") -> list[tuple[str, object]]:
    """(dotted name, value) of every leaf field, groups included."""
    found = []
    for f in dataclasses.fields(obj):  # type: ignore[arg-type]
        value = getattr(obj, f.name)
        name = f"{prefix}.{f.name}"
        if dataclasses.is_dataclass(value):
            found.extend(numeric_fields(value, name))
        else:
            found.append((name, value))
    return found


def test_every_limit_is_a_positive_number() -> None:
    leaves = numeric_fields(LIMITS)
    assert len(leaves) > 40  # the groups were walked, not skipped
    for name, value in leaves:
        assert isinstance(value, Real) and not isinstance(value, bool), name
        assert value > 0, name


def test_a_custom_kernel_limit_is_the_one_checked() -> None:
    tiny = dataclasses.replace(LIMITS.kernels, kernel_side=3, stride=2)
    assert isinstance(tiny, KernelLimits)
    with pytest.raises(KernelError, match="it must be 1×1 to 3×3"):
        validate_kernel([[1] * 4] * 4, tiny)
    validate_kernel([[1] * 4] * 4, LIMITS.kernels)  # the real limit takes it
    with pytest.raises(KernelError, match="stride must be 1 to 2, got 3"):
        ConvSpec(stride=3).validate(tiny)
    ConvSpec(stride=3).validate(LIMITS.kernels)


def test_a_custom_stepper_limit_is_the_one_checked() -> None:
    tiny = dataclasses.replace(LIMITS.stepper, trace_terms=10, points=2)
    with pytest.raises(InputError, match="at most 10: use"):
        stepper.conv_trace([[1] * 4] * 4, [[1, 1], [1, 1]], limits=tiny)  # 9 windows × 4
    assert len(stepper.conv_trace([[1] * 4] * 4, [[1, 1], [1, 1]],
                                  limits=LIMITS.stepper).steps) == 9
    with pytest.raises(InputError, match="3 points; at most 2 are allowed"):
        stepper.gradient_descent([[1, 2]] * 3, limits=tiny, learning_rate=0.1, epochs=1, w0=0)


def test_a_custom_net_limit_is_the_one_checked() -> None:
    tiny = dataclasses.replace(LIMITS.nets, layers=2)
    layers = [{"type": "flatten"}, {"type": "relu"}, {"type": "linear", "out_features": 10}]
    with pytest.raises(InputError, match="at most 2 layers, got 3"):
        nets.normalize(layers, limits=tiny)
    assert len(nets.normalize(layers, limits=LIMITS.nets)) == 3
