"""Exact, order-free sums of floats and of their squares.

Floating-point addition is not associative, so a plain running sum merged from partitions in
another order can differ in its last bits from a sum over the whole stream. ``ExactSums`` keeps
every sum as an integer multiple of a fixed power of two, which represents any float64 (and any
square of one) exactly, so ``merge`` is exact, commutative and associative, and the float read
out of it is the correctly rounded true sum.

Vectorized: a batch is split by (column, binary exponent) with numpy, and each group's
mantissas are summed in limbs small enough that every partial sum stays an exact whole number
in float64; only the per-group totals are combined with Python integers.

>>> import numpy as np
>>> a, b = ExactSums(1), ExactSums(1)
>>> a.update(np.array([[0.1], [0.2]])); b.update(np.array([[0.3], [np.nan]]))
>>> a.merge(b).sums().tolist(), 0.1 + 0.2 + 0.3
([0.6], 0.6000000000000001)
"""

from __future__ import annotations

import math

import numpy as np

# float64 = M * 2**(E - 1075) with M < 2**53 a whole number and E >= 1 the biased exponent
# (subnormals use E = 1), so 2**-1126 is a common unit for sums and 2**-2252 for squares.
_SHIFT = 1126
_SHIFT_SQ = 2 * _SHIFT
_BIAS = 1075
_FRACTION = (1 << 52) - 1
_HIDDEN = 1 << 52
# Limbs: 27-bit halves of M for sums, 18-bit thirds for squares (their products below 2**37).
# Group sums are taken with float64 ``bincount`` weights, which is exact while every partial
# sum stays below 2**53: with at most 2**15 values per pass, 27+15 and 37+1+15 bits both fit.
_MAX_ROWS = 1 << 15
_LOW27 = (1 << 27) - 1
_LOW18 = (1 << 18) - 1


class ExactSums:
    """Exact sums of values and squared values of ``k`` columns (NaN is skipped)."""

    __slots__ = ("_k", "_sq", "_sum")

    def __init__(self, k: int) -> None:
        self._k = k
        self._sum = [0] * k
        self._sq = [0] * k

    @property
    def k(self) -> int:
        return self._k

    def update(self, x: np.ndarray) -> None:
        """Add the rows of ``x`` (shape ``(n, k)``, NaN = missing)."""
        x = np.asarray(x, dtype=np.float64)
        cols = np.broadcast_to(np.arange(self._k, dtype=np.int64), x.shape)
        self.add_values(x.ravel(), cols.ravel())

    def add_values(self, values: np.ndarray, cols: np.ndarray) -> None:
        """Add ``values[i]`` to column ``cols[i]`` (NaN = missing): for sparse updates."""
        values = np.asarray(values, dtype=np.float64)
        cols = np.asarray(cols, dtype=np.int64)
        if np.isinf(values).any():     # checked before anything is added: all or nothing
            raise ValueError("exact sums take finite values or NaN (missing)")
        for start in range(0, values.size, _MAX_ROWS):
            self._add(values[start : start + _MAX_ROWS], cols[start : start + _MAX_ROWS])

    def _add(self, x: np.ndarray, col: np.ndarray) -> None:
        # M and E straight from the IEEE bits with integer ops (no frexp, no float rounding)
        bits = np.ascontiguousarray(x).view(np.int64)
        field = (bits >> 52) & 0x7FF
        # zeros and NaN (missing; infinities were refused) add nothing: left out, so that
        # their exponent fields (0 and 2047) do not stretch the exponent range of the groups
        keep = ((bits & np.int64(0x7FFFFFFFFFFFFFFF)) != 0) & (field != 0x7FF)
        if not keep.all():
            bits, field, col = bits[keep], field[keep], col[keep]
            if bits.size == 0:
                return
        mant = np.where(field > 0, (bits & _FRACTION) | _HIDDEN, bits & _FRACTION)
        e = np.maximum(field, 1)
        e_min = int(e.min())
        span = int(e.max()) - e_min + 1
        key = (e - e_min) + col * span            # one bin per (column, exponent): no sort
        size = self._k * span

        def group_sums(weights: np.ndarray) -> np.ndarray:
            return np.bincount(key, weights=weights, minlength=size)

        sign = np.where(bits < 0, -1, 1)
        a, b, c = mant >> 36, (mant >> 18) & _LOW18, mant & _LOW18
        limbs = np.stack([group_sums(sign * (mant >> 27)), group_sums(sign * (mant & _LOW27)),
                          group_sums(a * a), group_sums(2 * a * b), group_sums(2 * a * c + b * b),
                          group_sums(2 * b * c), group_sums(c * c)])
        groups = np.flatnonzero(np.any(limbs != 0, axis=0))
        if groups.size == 0:
            return
        # Combine the groups' limbs as Python integers in object arrays (element-wise int ops
        # without an interpreter loop per group), relative to the smallest exponent so they
        # stay small; each column's total is shifted to the common unit once.
        cols = groups // span
        rel = (groups % span).astype(object)
        s_hi, s_lo, q72, q54, q36, q18, q00 = limbs[:, groups].astype(np.int64).astype(object)
        group_sum = ((s_hi << 27) + s_lo) << rel
        group_sq = ((q72 << 72) + (q54 << 54) + (q36 << 36) + (q18 << 18) + q00) << (2 * rel)
        starts = np.flatnonzero(np.r_[True, cols[1:] != cols[:-1]])
        col_sum = np.add.reduceat(group_sum, starts).tolist()
        col_sq = np.add.reduceat(group_sq, starts).tolist()
        up, up_sq = e_min - _BIAS + _SHIFT, 2 * (e_min - _BIAS) + _SHIFT_SQ
        sums, sqs = self._sum, self._sq
        for i, j in enumerate(cols[starts].tolist()):
            sums[j] += col_sum[i] << up
            sqs[j] += col_sq[i] << up_sq

    def merge(self, other: ExactSums) -> ExactSums:
        """A new ``ExactSums`` holding both; neither operand changes."""
        if other._k != self._k:
            raise ValueError(f"cannot merge sums of {other._k} columns into sums of {self._k}")
        out = ExactSums(self._k)
        out._sum = [a + b for a, b in zip(self._sum, other._sum, strict=True)]
        out._sq = [a + b for a, b in zip(self._sq, other._sq, strict=True)]
        return out

    def integer_sums(self) -> list[int]:
        """Each column's exact sum as a whole number of ``2**-1126``."""
        return list(self._sum)

    def integer_squares(self) -> list[int]:
        """Each column's exact sum of squares as a whole number of ``2**-2252``."""
        return list(self._sq)

    def sums(self) -> np.ndarray:
        """Correctly rounded sums (Python's int true division rounds correctly)."""
        return np.array([_to_float(s, 1 << _SHIFT) for s in self._sum], dtype=np.float64)

    def sums_of_squares(self) -> np.ndarray:
        return np.array([_to_float(s, 1 << _SHIFT_SQ) for s in self._sq], dtype=np.float64)

    def mean_std(self, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and sample standard deviation per column (NaN where undefined), computed
        exactly from the integer state before the one final rounding."""
        means = np.full(self._k, np.nan)
        stds = np.full(self._k, np.nan)
        for j, n in enumerate(np.asarray(counts).tolist()):
            if n >= 1:
                means[j] = _to_float(self._sum[j], n << _SHIFT)
            if n >= 2:
                # n*S2 - S1^2 is exact in integers; scale both to 2**-2252.
                num = n * self._sq[j] - self._sum[j] * self._sum[j]
                stds[j] = _sqrt_ratio(max(num, 0), (n * (n - 1)) << _SHIFT_SQ)
        return means, stds

    def root_mean_square(self, j: int, n: int) -> float:
        """sqrt(sum of squares / ``n``) of column ``j``, exact before the one rounding (finite
        wherever the result is, even when the sum of squares is beyond float range)."""
        return _sqrt_ratio(self._sq[j], n << _SHIFT_SQ) if n > 0 else math.nan

    def squares_over_spread(self, j: int, i: int, n: int) -> float | None:
        """sum x_j^2 / sum (x_i - mean_i)^2 over ``n`` rows, exact before the one rounding; None
        when column ``i`` does not vary or the ratio is beyond float range."""
        spread = n * self._sq[i] - self._sum[i] * self._sum[i]     # n * sum (x_i - mean_i)^2
        if n < 2 or spread <= 0:
            return None
        try:
            return n * self._sq[j] / spread
        except OverflowError:
            return None

    def to_state(self) -> dict[str, list[str]]:
        return {"sum": [format(v, "x") for v in self._sum], "sq": [format(v, "x") for v in self._sq]}

    @classmethod
    def from_state(cls, state: dict[str, list[str]]) -> ExactSums:
        out = cls(len(state["sum"]))
        out._sum = [int(v, 16) for v in state["sum"]]
        out._sq = [int(v, 16) for v in state["sq"]]
        return out

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ExactSums) and (self._sum, self._sq) == (other._sum, other._sq)

    __hash__ = None  # type: ignore[assignment]


def _sqrt_ratio(num: int, den: int) -> float:
    """sqrt(num / den) for ints num >= 0, den > 0; finite wherever the root is, though num / den
    may be beyond float range (inf only where the root is too)."""
    try:
        return math.sqrt(num / den)
    except OverflowError:
        pass
    # take out an even power of two, 2**(2s), leaving a quotient near 2**1000, then put back 2**s
    s = (num.bit_length() - den.bit_length()) // 2 - 500
    try:
        return math.ldexp(math.sqrt((num >> (2 * s)) / den), s)
    except OverflowError:
        return math.inf


def _to_float(num: int, den: int) -> float:
    try:
        return num / den
    except OverflowError:  # beyond float64: the honest float answer is infinity
        return float("inf") if num > 0 else float("-inf")
