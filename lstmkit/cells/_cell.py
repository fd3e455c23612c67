"""What every recurrent cell shares: its settings object, Keras-layout weights and the step contract."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar, Collection, Protocol, TypeVar, cast

import torch
from torch import nn

from .. import activations, initializers, mixed_precision
from .._checks import positive_int

State = tuple[torch.Tensor, ...]

S = TypeVar("S", bound="Settings")


def zero_state(shape: tuple[int, ...], *, dtype: torch.dtype, device: torch.device | str) -> torch.Tensor:
    """Zeros of `shape` for a sequence's start, made without a memory write: a view (every stride 0)
    of one zero kept per device and dtype. On a GPU each `torch.zeros` is a launch from the host,
    and a small batch's step is as long as its launches; the fused loop takes this view as known
    zeros (`is_zero_state`) and clears the states' first slot in one launch for them all.

    The view cannot be written (torch refuses an in-place write to a tensor whose elements share
    memory), so the kept zero stays zero. In a traced graph (torch.compile, torch.export, the ONNX
    exporter) it is plain `torch.zeros`: a graph takes no tensor from outside it."""
    if torch.compiler.is_compiling() or torch.jit.is_tracing():
        return torch.zeros(shape, dtype=dtype, device=device)
    key = (str(device), dtype)
    zero = _ZEROS.get(key)
    if zero is None:
        zero = _ZEROS[key] = torch.zeros((), dtype=dtype, device=device)
        _ZERO_ADDRESSES.add(zero.data_ptr())
    return zero.expand(shape)


def is_zero_state(t: torch.Tensor) -> bool:
    """Whether `t` is a view made by `zero_state` (a few comparisons: no read of the device)."""
    return t.numel() > 0 and not any(t.stride()) and t.data_ptr() in _ZERO_ADDRESSES


_ZEROS: dict[tuple[str, torch.dtype], torch.Tensor] = {}  # the one zero per device and dtype, kept for good
_ZERO_ADDRESSES: set[int] = set()  # their addresses (never freed, so never another tensor's)


def given(default: Any) -> Any:
    """A dataclass field whose default is written as users give it (a name, an int per axis); the
    field holds the checked form (`Settings.normalised`)."""
    return field(default=default)


def own(default: Any) -> Any:
    """A dataclass field for one of lstmkit's own options (not Keras's): written to a layer's config
    only when it differs from its default, so a plain layer's config stays Keras's."""
    return field(default=default, metadata={"own": True})


@dataclass(frozen=True)
class Settings:
    """A frozen set of options, checked and normalised once, when made.

    Subclasses are dataclasses whose fields are the options; `normalise()` turns each given value
    into its checked form (a name into an activation, a rate into a float in [0, 1)).
    """

    def __post_init__(self) -> None:
        for name, value in self.normalised().items():
            object.__setattr__(self, name, value)

    def normalised(self) -> dict[str, Any]:
        """The fields whose given value needs checking or converting, in their checked form."""
        return {}

    @classmethod
    def picked(cls: type[S], arguments: dict[str, Any]) -> S:
        """Settings from the fields named in `arguments` (a layer's arguments), which loses them."""
        names = [f.name for f in dataclasses.fields(cls) if f.name in arguments]
        return cls(**{name: arguments.pop(name) for name in names})

    def config(self, keep: Collection[str]) -> dict[str, Any]:
        """The options named in `keep` for a layer's config: activations by name, lstmkit's own
        options only where they differ from their defaults."""
        config: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.name not in keep:
                continue
            value = getattr(self, f.name)
            if f.metadata.get("own") and value == f.default:
                continue
            config[f.name] = activations.serialize(value) if f.metadata.get("activation") else value
        return config


def activation_field(default: str) -> Any:
    return field(default=default, metadata={"activation": True})


@dataclass(frozen=True)
class CellSettings(Settings):
    """The options of every fully-connected recurrent cell, with Keras's names and defaults."""

    units: int
    activation: activations.Activation = activation_field("tanh")
    use_bias: bool = True
    kernel_initializer: initializers.Initializer = given("glorot_uniform")
    recurrent_initializer: initializers.Initializer = given("orthogonal")
    bias_initializer: initializers.Initializer = given("zeros")

    def normalised(self) -> dict[str, Any]:
        return dict(
            units=positive_int("units", self.units),
            activation=activations.get(self.activation),
            use_bias=bool(self.use_bias),
            kernel_initializer=initializers.get(self.kernel_initializer),
            recurrent_initializer=initializers.get(self.recurrent_initializer),
            bias_initializer=initializers.get(self.bias_initializer),
        )


class SequenceCell(Protocol):
    """What the sequence runner asks of a cell (`RecurrentCell`, `ConvLSTMCell`, or a wrapper of
    a program's own cell): the input term of all steps, one step, the training-time noise, and
    the fused kernels' name for it (None: the reference loop only)."""

    kernel_name: ClassVar[str | None]

    def project_inputs(self, x: torch.Tensor) -> torch.Tensor: ...

    def step(self, xw: torch.Tensor, state: State, recurrent_mask: torch.Tensor | None = None,
             noise: torch.Tensor | None = None) -> tuple[torch.Tensor, State]: ...

    def draw_noise(self, steps: int, batch_size: int, like: torch.Tensor) -> torch.Tensor | None: ...


def input_product(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """`x W` in the kernel's dtype. An x of lower precision (a mixed-precision layer's bfloat16 or
    float16) is multiplied by W rounded to its dtype, the product coming back in W's: the
    specification of the fused kernels' mixed-precision projection."""
    if x.dtype != kernel.dtype and x.dtype in mixed_precision.LOW_PRECISION:
        return (x @ kernel.to(x.dtype)).to(kernel.dtype)
    return x @ kernel


class KernelCell(SequenceCell, Protocol):
    """A cell the fused kernels compute (`kernel_name` not None): what it sends them."""

    kernel: torch.Tensor  # its input kernel: the weights' device and dtype
    settings: Settings  # its options (the activations among them are checked against the kernels')
    gate_blocks: ClassVar[int]  # G, the gate blocks per state unit

    def loop_tensors(self, x: torch.Tensor) -> dict[str, torch.Tensor | None]:
        """The loop's x, W, b and U from the time-major input x (T, B, ...)."""
        ...

    def kernel_tensors(self, noise: torch.Tensor | None) -> dict[str, torch.Tensor | None]:
        """The cell's own tensors by name (its noise among them)."""
        ...

    def kernel_options(self) -> dict[str, Any]:
        """The cell's options by name (activations as functions)."""
        ...

    def kernel_refusal(self) -> str | None:
        """Why the kernels cannot compute the cell as it is set, or None."""
        ...


def as_kernel_cell(cell: SequenceCell) -> KernelCell | None:
    """The cell as the fused kernels read it, or None when it names no kernels (`kernel_name`)
    or lacks a member of `KernelCell`.

    Not `isinstance(cell, KernelCell)` with a runtime-checkable protocol: from Python 3.12 that
    check looks members up statically, and a module's weights (`kernel`, an `nn.Parameter`) live
    in its `_parameters`, where a static lookup does not see them, so every cell would fail it.
    """
    if getattr(cell, "kernel_name", None) is None:
        return None
    if any(not hasattr(cell, name) for name in _KERNEL_CELL_MEMBERS):
        return None
    return cast(KernelCell, cell)


# what the fused kernels read of a cell beyond SequenceCell: KernelCell's attributes and methods
_KERNEL_CELL_MEMBERS = tuple(sorted(
    set(KernelCell.__annotations__)
    | {name for name, value in vars(KernelCell).items() if callable(value) and not name.startswith("_")}
))


class RecurrentCell(nn.Module):
    """A cell maps one time step's input and the previous state to an output and the next state.

    A cell class is declared once: `settings_class`, the frozen dataclass of its options, beside
    its math (`project_inputs`, `step`), its training-time noise (`draw_noise`) and what it sends
    to the fused kernels (`kernel_name`, `kernel_tensors`, `kernel_options`). The layer, the
    sequence runner and both kernel backends read the cell; none restates its options.

    Weights are stored in Keras's layout so that `get_weights()` needs no transposes:
    `kernel` (input_dim, G*units), `recurrent_kernel` (units, G*units) and `bias`, G being the
    number of gate blocks. The work is split in two so a layer can run the input half for all
    time steps in one matrix product:

    - `project_inputs(x)`: the input term `x W (+ b)`, for any number of leading dimensions;
    - `step(xw_t, state, recurrent_mask, noise_t)`: everything that depends on the previous state.

    `cell(x_t, state)` does both for a single step, like `torch.nn.LSTMCell`. The settings'
    fields read as the cell's attributes (`cell.units`, `cell.activation`).
    """

    settings_class: ClassVar[type[CellSettings]] = CellSettings
    gate_blocks: ClassVar[int]  # G: 4 for an LSTM, 3 for a GRU, 1 for a SimpleRNN
    state_count: ClassVar[int]  # tensors in the state: (h, c) for an LSTM, (h,) otherwise
    # the cell's name to the fused kernels (csrc/<name>.h, gpu/<name>.py), None where they have none
    kernel_name: ClassVar[str | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # A subclass with math of its own computes something the kernels do not, unless it
        # declares its own kernels.
        if "kernel_name" not in cls.__dict__ and any(n in cls.__dict__ for n in ("step", "project_inputs", "input_bias")):
            cls.kernel_name = None

    def __init__(self, input_dim: int, settings: CellSettings | int, **options: Any) -> None:
        """`settings`: the cell's settings object, or the units, with its other options as keywords."""
        super().__init__()
        if not isinstance(settings, CellSettings):
            settings = self.settings_class(units=settings, **options)
        elif options:
            raise TypeError(f"{type(self).__name__} takes a settings object or options, not both: {sorted(options)}")
        if not isinstance(settings, self.settings_class):
            raise TypeError(f"{type(self).__name__} takes {self.settings_class.__name__}, got {type(settings).__name__}")
        self.settings = settings
        self.input_dim = positive_int("input_dim", input_dim)
        dtype = torch.get_default_dtype()
        width = self.gate_blocks * settings.units
        self.kernel = nn.Parameter(
            initializers.make(initializers.get(settings.kernel_initializer), (self.input_dim, width), dtype)
        )
        self.recurrent_kernel = nn.Parameter(
            initializers.make(initializers.get(settings.recurrent_initializer), (settings.units, width), dtype)
        )
        if settings.use_bias:
            self.bias = nn.Parameter(self.initial_bias(initializers.get(settings.bias_initializer), dtype))
        else:
            self.register_parameter("bias", None)

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            settings = self.__dict__.get("settings")
            if settings is not None and name in settings.__dataclass_fields__:
                return getattr(settings, name)
            raise

    def bias_shape(self) -> tuple[int, ...]:
        """The bias's shape: (G*units,) unless the cell keeps it otherwise."""
        return (self.gate_blocks * self.settings.units,)

    def initial_bias(self, init: initializers.Initializer, dtype: torch.dtype) -> torch.Tensor:
        """The bias's starting values from the initializer."""
        return initializers.make(init, self.bias_shape(), dtype)

    def project_inputs(self, x: torch.Tensor) -> torch.Tensor:
        """`x W + b`: (..., input_dim) -> (..., G*units), in the weights' dtype. An x of lower
        precision (a mixed-precision layer's bfloat16 or float16) is multiplied by W rounded to
        its dtype, and the product comes back in the weights' dtype before the bias is added."""
        xw = input_product(x, self.kernel)
        if self.bias is not None:
            xw = xw + self.input_bias()
        return xw

    def input_bias(self) -> torch.Tensor:
        """The bias as it joins the input term (G*units,)."""
        if self.bias is None:
            raise ValueError(f"{type(self).__name__} has no bias (use_bias=False)")
        return self.bias

    def initial_state(self, batch_size: int, *, dtype: torch.dtype, device: torch.device) -> State:
        """Zero state: `state_count` tensors of shape (batch_size, units) (`zero_state` views)."""
        return tuple(
            zero_state((batch_size, self.settings.units), dtype=dtype, device=device) for _ in range(self.state_count)
        )

    def draw_noise(self, steps: int, batch_size: int, like: torch.Tensor) -> torch.Tensor | None:
        """The cell's training-time random draws for a whole sequence, time first (steps, ...), or
        None when it has none. The runner hands `noise[t]` to step t."""
        return None

    def step(
        self,
        xw: torch.Tensor,
        state: State,
        recurrent_mask: torch.Tensor | None = None,
        noise: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, State]:
        """One time step from the projected input xw (B, G*units): returns (output, next state).

        `recurrent_mask` (B, units), when given, multiplies the previous output where it enters
        the recurrent product (recurrent dropout); it does not touch the carried state itself.
        `noise` is step t's share of `draw_noise` at training time, None at inference.
        """
        raise NotImplementedError

    def loop_tensors(self, x: torch.Tensor) -> dict[str, torch.Tensor | None]:
        """The loop's tensors for the fused kernels from the time-major input x (T, B, input_dim):
        x itself, W, b (None without a bias) and U; the kernels project every step at once."""
        return {"x": x, "W": self.kernel, "b": self.input_bias() if self.bias is not None else None,
                "U": self.recurrent_kernel}

    def kernel_tensors(self, noise: torch.Tensor | None) -> dict[str, torch.Tensor | None]:
        """The cell's own tensors for the fused kernels, beyond the loop's x, W, b, U and states."""
        return {}

    def kernel_refusal(self) -> str | None:
        """Why the fused kernels cannot compute this cell as it is set, or None."""
        return None

    def kernel_options(self) -> dict[str, Any]:
        """The cell's options for the fused kernels: activations as functions (the kernels' ids
        are looked up by the dispatch), flags as bools, numbers as floats."""
        return {"act": self.settings.activation}

    def forward(self, x: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """One step from a raw input x (B, input_dim)."""
        if state is None:
            state = self.initial_state(x.shape[0], dtype=x.dtype, device=x.device)
        return self.step(self.project_inputs(x), tuple(state))

    def extra_repr(self) -> str:
        return f"input_dim={self.input_dim}, units={self.settings.units}, use_bias={self.settings.use_bias}"


def forget_bias(init: initializers.Initializer, units: int, length: int, dtype: torch.dtype) -> torch.Tensor:
    """A bias of `length` values from `init`, but ones on the forget block of its last four gate
    blocks (i, f, c, o): `unit_forget_bias` (Jozefowicz et al. 2015). For an LSTM's (4H,) bias,
    cuDNN's pair (8H,: the recurrent half, where Keras 2 put them) and a ConvLSTM's (4F,)."""
    forget_start = length - 3 * units
    return torch.cat([initializers.make(init, (forget_start,), dtype), torch.ones(units, dtype=dtype),
                      initializers.make(init, (2 * units,), dtype)])


def masked_previous(h: torch.Tensor, recurrent_mask: torch.Tensor | None) -> torch.Tensor:
    """The previous output as it enters the recurrent product: dropped out when a mask is given."""
    return h if recurrent_mask is None else h * recurrent_mask
