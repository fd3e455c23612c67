"""Every registered activation as Triton code, forward y = f(z) and backward dz = dy f'(z).

The id is a compile-time constant (`ACTIVATION_IDS` in ../fused.py, shared with the C++ kernels),
so each kernel is built with its own activations inlined. `valid` marks the row's real values
(the block is padded to a power of two): softmax and log_softmax sum over those only.
"""

import triton
import triton.language as tl

SELU_ALPHA = tl.constexpr(1.6732632423543772)
SELU_SCALE = tl.constexpr(1.0507009873554805)
SOFTPLUS_THRESHOLD = tl.constexpr(20.0)  # torch's softplus returns z above this


@triton.jit
def tanh(z):
    # tanh(z) = sign(z) (1 - 2 / (exp(2|z|) + 1)), with an odd polynomial near zero where that
    # form loses relative precision (Cephes's coefficients)
    a = tl.abs(z)
    t = 1.0 - 2.0 / (tl.exp(2.0 * a) + 1.0)
    t = tl.where(z < 0, -t, t)
    q = z * z
    small = ((((-5.70498872745e-3 * q + 2.06390887954e-2) * q - 5.37397155531e-2) * q + 1.33314422036e-1) * q
             - 3.33332819422e-1) * q * z + z
    return tl.where(a < 0.625, small, t)


@triton.jit
def sigmoid(z):
    return 1.0 / (1.0 + tl.exp(-z))


@triton.jit
def softplus(z):
    # log(1 + e^z) = max(z, 0) + log(1 + e^-|z|), and z itself above the threshold
    soft = tl.maximum(z, 0.0) + tl.log(1.0 + tl.exp(-tl.abs(z)))
    return tl.where(z > SOFTPLUS_THRESHOLD, z, soft)


@triton.jit
def hard_sigmoid(z):
    return tl.minimum(tl.maximum(z / 6.0 + 0.5, 0.0), 1.0)


@triton.jit
def forward(z, valid, ACT: tl.constexpr):
    if ACT == 0:  # linear
        y = z
    elif ACT == 1:
        y = tanh(z)
    elif ACT == 2:
        y = sigmoid(z)
    elif ACT == 3:
        y = hard_sigmoid(z)
    elif ACT == 4:  # relu
        y = tl.maximum(z, 0.0)
    elif ACT == 5:  # relu6
        y = tl.minimum(tl.maximum(z, 0.0), 6.0)
    elif ACT == 6:  # leaky_relu, Keras's slope 0.2
        y = tl.where(z > 0, z, 0.2 * z)
    elif ACT == 7:  # elu
        y = tl.where(z > 0, z, tl.exp(tl.minimum(z, 0.0)) - 1.0)
    elif ACT == 8:  # selu
        y = SELU_SCALE * tl.where(z > 0, z, SELU_ALPHA * (tl.exp(tl.minimum(z, 0.0)) - 1.0))
    elif ACT == 9:
        y = softplus(z)
    elif ACT == 10:  # softsign
        y = z / (1.0 + tl.abs(z))
    elif ACT == 11:  # silu
        y = z * sigmoid(z)
    elif ACT == 12:  # hard_silu
        y = z * hard_sigmoid(z)
    elif ACT == 13:  # gelu, exact
        y = 0.5 * z * (1.0 + tl.math.erf(z * 0.7071067811865476))
    elif ACT == 14:  # mish
        y = z * tanh(softplus(z))
    elif ACT == 15:  # exponential
        y = tl.exp(z)
    elif ACT == 16:  # softmax over the row
        m = tl.max(tl.where(valid, z, float("-inf")), 0)
        e = tl.where(valid, tl.exp(z - m), 0.0)
        y = e / tl.sum(e, 0)
    elif ACT == 17:  # log_softmax over the row
        m = tl.max(tl.where(valid, z, float("-inf")), 0)
        e = tl.where(valid, tl.exp(z - m), 0.0)
        y = z - m - tl.log(tl.sum(e, 0))
    elif ACT == 18:  # log_sigmoid
        y = tl.minimum(z, 0.0) - tl.log(1.0 + tl.exp(-tl.abs(z)))
    elif ACT == 19:  # tanh_shrink
        y = z - tanh(z)
    else:  # 20: hard_tanh
        y = tl.minimum(tl.maximum(z, -1.0), 1.0)
    return tl.where(valid, y, 0.0)


@triton.jit
def backward(z, y, dy, valid, ACT: tl.constexpr):
    """dz = dy f'(z), from the activation's input z and output y."""
    if ACT == 0:
        dz = dy
    elif ACT == 1:
        dz = dy * (1.0 - y * y)
    elif ACT == 2:
        dz = dy * y * (1.0 - y)
    elif ACT == 3:  # the clamp passes the gradient on the closed interval
        u = z / 6.0 + 0.5
        dz = tl.where((u >= 0) & (u <= 1), dy / 6.0, 0.0)
    elif ACT == 4:
        dz = tl.where(y > 0, dy, 0.0)
    elif ACT == 5:
        dz = tl.where((z >= 0) & (z <= 6), dy, 0.0)
    elif ACT == 6:
        dz = tl.where(z > 0, dy, 0.2 * dy)
    elif ACT == 7:
        dz = tl.where(z > 0, dy, dy * tl.exp(tl.minimum(z, 0.0)))
    elif ACT == 8:
        dz = dy * SELU_SCALE * tl.where(z > 0, 1.0, SELU_ALPHA * tl.exp(tl.minimum(z, 0.0)))
    elif ACT == 9:
        dz = tl.where(z > SOFTPLUS_THRESHOLD, dy, dy * sigmoid(z))
    elif ACT == 10:
        d = 1.0 + tl.abs(z)
        dz = dy / (d * d)
    elif ACT == 11:
        s = sigmoid(z)
        dz = dy * s * (1.0 + z * (1.0 - s))
    elif ACT == 12:
        u = z / 6.0 + 0.5
        inner = tl.where((u >= 0) & (u <= 1), 1.0 / 6.0, 0.0)
        dz = dy * (hard_sigmoid(z) + z * inner)
    elif ACT == 13:
        cdf = 0.5 * (1.0 + tl.math.erf(z * 0.7071067811865476))
        pdf = tl.exp(-0.5 * z * z) * 0.3989422804014327
        dz = dy * (cdf + z * pdf)
    elif ACT == 14:
        t = tanh(softplus(z))
        dsp = tl.where(z > SOFTPLUS_THRESHOLD, 1.0, sigmoid(z))
        dz = dy * (t + z * (1.0 - t * t) * dsp)
    elif ACT == 15:
        dz = dy * y
    elif ACT == 16:
        dot = tl.sum(tl.where(valid, dy * y, 0.0), 0)
        dz = y * (dy - dot)
    elif ACT == 17:
        total = tl.sum(tl.where(valid, dy, 0.0), 0)
        dz = dy - tl.exp(y) * total
    elif ACT == 18:
        dz = dy / (1.0 + tl.exp(z))
    elif ACT == 19:
        t = tanh(z)
        dz = dy * t * t
    else:
        dz = tl.where((z >= -1) & (z <= 1), dy, 0.0)
    return tl.where(valid, dz, 0.0)
