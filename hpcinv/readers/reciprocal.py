"""Data uncertainties from normal/reciprocal pairs, the way ResIPy and pyGIMLi estimate them.

By reciprocity the transfer resistance does not change when the current and potential dipoles
swap places, R(A B M N) = R(M N A B), so a quadrupole measured both ways gives two readings of
one number; their difference is measurement noise. Grouping the pairs by |R| shows how that
noise grows with the signal, and a line through the groups, sigma = a + b |R|, is the error
model (Slater et al. 2000; Koestel et al. 2008; ResIPy's ``fitErrorLin``). Here:

1. ``find_reciprocal_pairs`` finds the pairs in an (n, 4) A B M N table;
2. ``reciprocal_errors`` gives each pair its mean value and its reciprocal error;
3. ``fit_error_model`` fits a and b to the pairs, binned by |R|;
4. ``reciprocal_uncertainty`` is the whole step a run uses: pairs, outlier pairs dropped,
   model fitted, one value and one standard deviation per datum left to invert;
5. ``describe`` gives the lines ``hpcinv data`` and the run log print;
6. ``reciprocal_field_data`` applies 4 to a file's ``FieldData``.

Conventions
-----------
Polarity. Swapping the two electrodes of one dipole flips the sign of the reading,
R(B A M N) = R(A B N M) = -R(A B M N); swapping both flips it twice. So the reciprocal of
A B M N may be recorded as M N A B (sign +1), N M A B or M N B A (sign -1: one dipole turned
round) or N M B A (sign +1: both turned round). ``sign`` is the factor that puts the
reciprocal's value in the normal's polarity: R_normal ~ sign * R_reciprocal.

Poles. ``REMOTE`` (a B or N at infinity) is treated as one more electrode, so the reciprocal
of the pole-dipole A * M N is M N A *, and of the pole-pole A * M * is M * A *.

Normal or reciprocal. Which of the two readings is the "normal" one is not written in a
file, so the row that comes first is called normal; results are reported at its index.

Repeats. A quadrupole read again with the same current dipole (whatever its polarity) is a
repeat, not a reciprocal: it is never paired with itself. When a quadrupole has several
readings each way, the k-th reading one way pairs with the k-th the other way, in file order,
so every row is in at most one pair; the readings left over stay unpaired.

Scale: what a and b mean. For independent Gaussian errors of standard deviation sigma on the
two readings, the difference has standard deviation sqrt(2) sigma and mean absolute value
E|e| = 2 sigma / sqrt(pi). ResIPy fits the mean |e| per bin as it is; here the bin means are
multiplied by sqrt(pi) / 2 (``ABS_DIFFERENCE_TO_SIGMA``), so that a + b |R| is one standard
deviation of a single reading, the number an inversion's data weights want. The mean of a
pair averages two independent readings, so its standard deviation is smaller by sqrt(2):
``reciprocal_uncertainty`` gives pair means (a + b |R|) / sqrt(2) and unpaired rows, single
readings, a + b |R|.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np

from hpcinv.errors import DataError
from hpcinv.readers.fielddata import DroppedRow, FieldData
from hpcinv.survey import REMOTE, Survey

#: E|x1 - x2| = 2 sigma / sqrt(pi) for independent x1, x2 ~ N(mu, sigma^2): this factor turns
#: the mean absolute reciprocal difference into the standard deviation of one reading.
ABS_DIFFERENCE_TO_SIGMA = math.sqrt(math.pi) / 2.0

#: A pair mean averages two independent readings: its standard deviation is sigma / sqrt(2).
PAIR_MEAN_SIGMA_FACTOR = 1.0 / math.sqrt(2.0)

#: Fewest pairs a fit is attempted with, whatever the number of bins.
MIN_PAIRS = 10

# Iterations of the weighted bin fit: the weights come from the previous fit's prediction;
# it settles in two or three, five leaves margin.
_REWEIGHTING_ITERATIONS = 5


# --------------------------------------------------------------------------------------------
# 1. pairs


def find_reciprocal_pairs(abmn: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The normal/reciprocal pairs of a quadrupole table.

    abmn: (n, 4) int electrode indices A, B, M, N (0-based, ``REMOTE`` for a pole's B or N).

    Returns (normal_rows, reciprocal_rows, sign), each (n_pairs,), sorted by normal row:
    rows i and j pair when row j is row i with current and potential dipoles swapped, either
    dipole in either orientation; i < j (the first-read row is the normal one); sign is +1 or
    -1 such that R[i] ~ sign * R[j] (see the module docstring). Every row is in at most one
    pair; repeats of a quadrupole (same current dipole) are never paired with one another.
    Rows not in any pair are the unpaired ones. Sorting-based: O(n log n).
    """
    abmn = np.asarray(abmn, dtype=np.int64).reshape(-1, 4)
    if abmn.size and abmn.min() < REMOTE:
        raise DataError(
            f"electrode index {abmn.min()} in an A B M N table: indices are >= 0, or "
            f"{REMOTE} for a pole's remote B or N"
        )
    quadrupole, side, orientation = _quadrupole_keys(abmn)
    reading_number = _reading_numbers(quadrupole, side)
    row_1, row_2 = _match_sides(quadrupole, side, reading_number)
    normal_rows, reciprocal_rows = np.minimum(row_1, row_2), np.maximum(row_1, row_2)
    # Relative to the canonical orientation the reciprocal's polarity is the product of the
    # two rows' dipole orientations.
    sign = orientation[normal_rows] * orientation[reciprocal_rows]
    by_normal = np.argsort(normal_rows, kind="stable")
    return (
        normal_rows[by_normal],
        reciprocal_rows[by_normal],
        sign[by_normal].astype(np.int64),
    )


def _quadrupole_keys(abmn: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row of an (n, 4) A B M N table: ``quadrupole``, a label shared by every reading
    of one quadrupole, either way round; ``side``, 1 where the current dipole is the lower of
    the two, else 0; ``orientation``, +1 or -1, the product of the two dipoles' orientations
    (+1 for a dipole written low-to-high)."""
    a, b, m, nn = abmn.T
    # REMOTE is just one more electrode here; a pole's dipole (A, REMOTE) is written high-to-
    # low, and so is its reciprocal's, so their orientations cancel in ``sign``.
    current_lo, current_hi = np.minimum(a, b), np.maximum(a, b)
    potential_lo, potential_hi = np.minimum(m, nn), np.maximum(m, nn)
    orientation = np.where(a <= b, 1, -1) * np.where(m <= nn, 1, -1)

    # A row's unordered key is its two dipoles, lower one first; ``current_first`` says which
    # of them carried the current. Rows with equal keys are readings of one quadrupole: with
    # equal ``current_first`` repeats, with different ``current_first`` reciprocals.
    current_first = (current_lo < potential_lo) | (
        (current_lo == potential_lo) & (current_hi < potential_hi)
    )
    first_lo = np.where(current_first, current_lo, potential_lo)
    first_hi = np.where(current_first, current_hi, potential_hi)
    second_lo = np.where(current_first, potential_lo, current_lo)
    second_hi = np.where(current_first, potential_hi, current_hi)
    _, quadrupole = np.unique(
        np.stack([first_lo, first_hi, second_lo, second_hi], axis=1),
        axis=0,
        return_inverse=True,
    )
    return quadrupole.ravel(), current_first.astype(np.int64), orientation


def _reading_numbers(quadrupole: np.ndarray, side: np.ndarray) -> np.ndarray:
    """Per row, its 0-based number among the readings of its (quadrupole, side), in file
    order."""
    # The k-th reading one way pairs with the k-th the other way, so repeats pair one-to-one
    # and extras stay unpaired.
    n = quadrupole.size
    order = np.lexsort((np.arange(n), side, quadrupole))
    sorted_quadrupole, sorted_side = quadrupole[order], side[order]
    run_starts = np.ones(n, dtype=bool)
    run_starts[1:] = (sorted_quadrupole[1:] != sorted_quadrupole[:-1]) | (
        sorted_side[1:] != sorted_side[:-1]
    )
    start_of_run = np.maximum.accumulate(np.where(run_starts, np.arange(n), 0))
    reading_number = np.empty(n, dtype=np.int64)
    reading_number[order] = np.arange(n) - start_of_run
    return reading_number


def _match_sides(
    quadrupole: np.ndarray, side: np.ndarray, reading_number: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The paired rows, (side 1 row, side 0 row) each, that share a quadrupole and a reading
    number."""
    # (quadrupole, reading number) is unique within a side, so matching the two sides on it
    # is a sorted intersection. A self-reciprocal row (both dipoles the same) has no other
    # side and so never pairs.
    match_key = quadrupole * (quadrupole.size + 1) + reading_number
    one_way, other_way = np.flatnonzero(side == 1), np.flatnonzero(side == 0)
    _, in_one, in_other = np.intersect1d(
        match_key[one_way], match_key[other_way], assume_unique=True, return_indices=True
    )
    return one_way[in_one], other_way[in_other]


# --------------------------------------------------------------------------------------------
# 2. reciprocal errors


def reciprocal_errors(
    values: np.ndarray, normal: np.ndarray, reciprocal: np.ndarray, sign: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per pair, the mean 0.5 (R_n + sign R_r), in the normal row's polarity, and the
    reciprocal error |R_n - sign R_r| (the absolute difference of the two readings)."""
    values = np.asarray(values, dtype=float)
    normal_values = values[normal]
    reciprocal_values = np.asarray(sign) * values[reciprocal]
    return 0.5 * (normal_values + reciprocal_values), np.abs(normal_values - reciprocal_values)


# --------------------------------------------------------------------------------------------
# 3. error model


@dataclass(frozen=True)
class ErrorModel:
    """sigma = a + b |R|: one standard deviation of a single reading, in the values' units.

    a: the floor (units of R, e.g. ohm); b: the relative part (0.03 is 3 %); both >= 0.
    n_pairs: pairs the fit used; n_bins_used: bins the line was fitted to.
    bin_abs_values, bin_sigmas: per bin, the mean |R| and the sigma the line was fitted to
    (mean reciprocal error times ``ABS_DIFFERENCE_TO_SIGMA``), for plots.
    """

    a: float
    b: float
    n_pairs: int
    n_bins_used: int
    bin_abs_values: np.ndarray = field(default_factory=lambda: np.empty(0), compare=False)
    bin_sigmas: np.ndarray = field(default_factory=lambda: np.empty(0), compare=False)

    def uncertainty(self, values: np.ndarray) -> np.ndarray:
        """One standard deviation of a single reading of each value: a + b |values|."""
        return self.a + self.b * np.abs(np.asarray(values, dtype=float))

    def pair_mean_uncertainty(self, values: np.ndarray) -> np.ndarray:
        """One standard deviation of the mean of a normal/reciprocal pair: (a + b |R|) / sqrt 2."""
        return PAIR_MEAN_SIGMA_FACTOR * self.uncertainty(values)


def fit_error_model(
    mean: np.ndarray, error: np.ndarray, n_bins: int = 20, *, weighted: bool = True
) -> ErrorModel:
    """Fit sigma = a + b |R| to pairs' means and reciprocal errors (``reciprocal_errors``).

    As ResIPy's ``fitErrorLin``: the pairs are sorted by |mean| and cut into ``n_bins`` bins
    of equal count (sizes differ by at most one); per bin the mean |R| and the mean |e| (ResIPy
    takes the mean of |e|; pyGIMLi's ``fitReciprocalErrorModel`` the standard deviation of the
    signed difference instead); then a least-squares line through the bins. The bin means of
    |e| are scaled by ``ABS_DIFFERENCE_TO_SIGMA`` = sqrt(pi) / 2 so that a and b describe one
    standard deviation of a single reading (see the module docstring). Because the model is
    linear in |R|, the mean of sigma over a bin is exactly a + b * (the bin's mean |R|).

    ``weighted`` (the default; ResIPy fits unweighted) weights each bin by 1 / (its
    predicted sigma)^2, refitting a few times with the previous fit's prediction (the first
    fit weights by the observed bin values). The scatter of a bin's mean |e| is proportional
    to its sigma, so over data spanning decades an unweighted line is set by the few largest
    bins alone and its intercept a is mostly their noise; weighting recovers a and b both.

    a and b are kept >= 0, as ResIPy does for a: a line with a < 0 is refitted through the
    origin (a = 0), one with b < 0 is refitted as a constant (b = 0).

    Non-finite pairs are left out. Raises DataError with fewer than max(2 n_bins, 10) pairs:
    too few to fit, use a percent-plus-floor uncertainty instead.
    """
    abs_mean = np.abs(np.asarray(mean, dtype=float)).ravel()
    abs_error = np.abs(np.asarray(error, dtype=float)).ravel()
    finite = np.isfinite(abs_mean) & np.isfinite(abs_error)
    abs_mean, abs_error = abs_mean[finite], abs_error[finite]
    n_pairs = abs_mean.size
    _check_enough_pairs(n_pairs, n_bins)
    bin_abs_values, bin_sigmas, bin_counts = _bin_pairs(abs_mean, abs_error, n_bins)
    a, b = _fit_bins(bin_abs_values, bin_sigmas, bin_counts, weighted)
    return ErrorModel(
        a=a,
        b=b,
        n_pairs=int(n_pairs),
        n_bins_used=int(n_bins),
        bin_abs_values=bin_abs_values,
        bin_sigmas=bin_sigmas,
    )


def _check_enough_pairs(n_pairs: int, n_bins: int) -> None:
    """Raise DataError unless ``n_bins`` >= 2 and there are max(2 n_bins, ``MIN_PAIRS``)
    pairs to fit."""
    if n_bins < 2:
        raise DataError(f"a reciprocal error model needs n_bins >= 2 (got {n_bins})")
    needed = max(2 * n_bins, MIN_PAIRS)
    if n_pairs < needed:
        raise DataError(
            f"only {n_pairs} normal/reciprocal pair(s) to fit, fewer than the {needed} a "
            f"{n_bins}-bin reciprocal error model needs: use a percent + floor uncertainty "
            "instead"
        )


def _bin_pairs(
    abs_mean: np.ndarray, abs_error: np.ndarray, n_bins: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pairs sorted by |mean| and cut into ``n_bins`` bins of equal count: per bin the
    mean |R|, the sigma of one reading (mean |e| times ``ABS_DIFFERENCE_TO_SIGMA``) and the
    number of pairs."""
    by_size = np.argsort(abs_mean, kind="stable")
    bins = np.array_split(by_size, n_bins)
    bin_abs_values = np.array([abs_mean[indices].mean() for indices in bins])
    bin_sigmas = ABS_DIFFERENCE_TO_SIGMA * np.array([abs_error[indices].mean() for indices in bins])
    bin_counts = np.array([indices.size for indices in bins], dtype=float)
    return bin_abs_values, bin_sigmas, bin_counts


def _fit_bins(
    bin_abs_values: np.ndarray, bin_sigmas: np.ndarray, bin_counts: np.ndarray, weighted: bool
) -> tuple[float, float]:
    """a and b of the line through the bins: unweighted, or weighted by count / (predicted
    sigma)^2, refitted with each fit's prediction (see ``fit_error_model``)."""
    if not weighted:
        return _fit_line(bin_abs_values, bin_sigmas, np.ones(bin_abs_values.size))
    scale = _positive_scale(bin_sigmas)
    a, b = _fit_line(bin_abs_values, bin_sigmas, bin_counts / scale**2)
    for _ in range(_REWEIGHTING_ITERATIONS):
        scale = _positive_scale(a + b * bin_abs_values)
        a, b = _fit_line(bin_abs_values, bin_sigmas, bin_counts / scale**2)
    return a, b


def _positive_scale(sigmas: np.ndarray) -> np.ndarray:
    """Sigmas usable as weights' denominators: zeros (a bin of identical readings, a zero
    intercept at |R| = 0) raised to a small fraction of the largest, so no bin gets an
    infinite weight."""
    largest = float(np.max(sigmas))
    if largest <= 0.0:
        return np.ones_like(sigmas)
    return np.maximum(sigmas, 1e-3 * largest)


def _fit_line(x: np.ndarray, y: np.ndarray, weights: np.ndarray) -> tuple[float, float]:
    """Weighted least squares y = a + b x with a, b >= 0: a < 0 refits through the origin,
    b < 0 refits a constant."""
    w_sum = weights.sum()
    x_mean, y_mean = (weights * x).sum() / w_sum, (weights * y).sum() / w_sum
    spread = (weights * (x - x_mean) ** 2).sum()
    b = (weights * (x - x_mean) * (y - y_mean)).sum() / spread if spread > 0 else 0.0
    a = y_mean - b * x_mean
    if b < 0.0:
        return float(max(y_mean, 0.0)), 0.0
    if a < 0.0:
        through_origin = (weights * x * y).sum() / (weights * x * x).sum()
        return 0.0, float(max(through_origin, 0.0))
    return float(a), float(b)


# --------------------------------------------------------------------------------------------
# 4. the whole step


@dataclass(frozen=True, eq=False)
class ReciprocalResult:
    """What ``reciprocal_uncertainty`` leaves to invert, and what it found. Indices are 0-based
    rows of the table it was given.

    keep_rows: (k,) rows to invert, ascending: the normal row of each kept pair, and every
        unpaired row. The reciprocal rows of kept pairs are not inverted: their reading is in
        the pair mean.
    values: (k,) the value for each kept row: the pair mean (normal row's polarity) or the
        row's own reading.
    uncertainty: (k,) one standard deviation: model / sqrt(2) for pair means, the model's
        a + b |value| for unpaired rows (single readings, which get the model too).
    averaged: (k,) bool, True where the value is a pair mean.
    model: the fitted ErrorModel.
    n_data: rows given; n_pairs: pairs found, dropped ones included; n_unpaired: rows in no
        pair.
    dropped_rows: (d, 2) normal and reciprocal row of each dropped pair, by normal row.
    dropped_relative_errors: (d,) their |e| / |mean|.
    max_relative_error: the threshold they exceeded.
    """

    keep_rows: np.ndarray
    values: np.ndarray
    uncertainty: np.ndarray
    averaged: np.ndarray
    model: ErrorModel
    n_data: int
    n_pairs: int
    n_unpaired: int
    dropped_rows: np.ndarray
    dropped_relative_errors: np.ndarray
    max_relative_error: float


def reciprocal_uncertainty(
    abmn: np.ndarray,
    values: np.ndarray,
    *,
    max_relative_error: float = 0.2,
    n_bins: int = 20,
    weighted: bool = True,
) -> ReciprocalResult:
    """Pairs, outliers dropped, error model fitted: the data and uncertainties to invert.

    A pair whose relative reciprocal error |R_n - sign R_r| / |mean| exceeds
    ``max_relative_error`` (or cannot be computed: a zero mean with a nonzero difference, a
    non-finite reading) is an outlier: both its rows are dropped. The model is fitted to the
    other pairs (``fit_error_model``, which raises DataError when they are too few). Each kept
    pair is inverted once, at its normal row, with its mean value and standard deviation
    (a + b |mean|) / sqrt(2); unpaired rows keep their reading and get a + b |value|, the
    model's standard deviation of a single reading.
    """
    abmn = np.asarray(abmn, dtype=np.int64).reshape(-1, 4)
    values = np.asarray(values, dtype=float).ravel()
    if values.size != abmn.shape[0]:
        raise DataError(f"{values.size} values for {abmn.shape[0]} A B M N rows")
    n_data = values.size
    normal, reciprocal, sign = find_reciprocal_pairs(abmn)
    mean, error = reciprocal_errors(values, normal, reciprocal, sign)

    relative_error = _relative_errors(mean, error)
    # NaN compares False, so "not within" also drops pairs with a non-finite reading.
    outlier = ~(relative_error <= max_relative_error)
    model = _fit_kept_pairs(mean, error, outlier, max_relative_error, n_bins, weighted)
    keep_rows, kept_values, uncertainty, averaged, n_unpaired = _kept_data(
        values, normal, reciprocal, mean, ~outlier, model
    )
    return ReciprocalResult(
        keep_rows=keep_rows,
        values=kept_values,
        uncertainty=uncertainty,
        averaged=averaged,
        model=model,
        n_data=n_data,
        n_pairs=int(normal.size),
        n_unpaired=n_unpaired,
        dropped_rows=np.stack([normal[outlier], reciprocal[outlier]], axis=1),
        dropped_relative_errors=relative_error[outlier],
        max_relative_error=float(max_relative_error),
    )


def _relative_errors(mean: np.ndarray, error: np.ndarray) -> np.ndarray:
    """Per pair, the relative reciprocal error |e| / |mean|: inf for a zero mean with a
    nonzero difference, 0 for two zero readings."""
    abs_mean = np.abs(mean)
    relative_error = np.divide(
        error, abs_mean, out=np.full(error.shape, np.inf), where=abs_mean > 0
    )
    relative_error[(abs_mean == 0) & (error == 0)] = 0.0  # two identical zero readings agree
    return relative_error


def _fit_kept_pairs(
    mean: np.ndarray,
    error: np.ndarray,
    outlier: np.ndarray,
    max_relative_error: float,
    n_bins: int,
    weighted: bool,
) -> ErrorModel:
    """``fit_error_model`` on the pairs that are not outliers."""
    kept = ~outlier
    try:
        return fit_error_model(mean[kept], error[kept], n_bins, weighted=weighted)
    except DataError as too_few:
        if not outlier.any():
            raise
        # Dropped outliers may be why too few pairs are left: say how many were dropped.
        raise DataError(
            f"{too_few}; {mean.size} pairs found, {outlier.sum()} dropped "
            f"(reciprocal error > {100 * max_relative_error:.3g}%)"
        ) from too_few


def _kept_data(
    values: np.ndarray,
    normal: np.ndarray,
    reciprocal: np.ndarray,
    mean: np.ndarray,
    kept: np.ndarray,
    model: ErrorModel,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """``keep_rows``, ``values``, ``uncertainty`` and ``averaged`` of a ``ReciprocalResult``
    (the kept pairs' means and the unpaired rows' readings), in file order, and the number of
    unpaired rows."""
    paired = np.zeros(values.size, dtype=bool)
    paired[normal] = paired[reciprocal] = True
    unpaired_rows = np.flatnonzero(~paired)
    keep_rows = np.concatenate([normal[kept], unpaired_rows])
    kept_values = np.concatenate([mean[kept], values[unpaired_rows]])
    averaged = np.concatenate([np.ones(kept.sum(), dtype=bool), np.zeros(unpaired_rows.size, bool)])
    uncertainty = model.uncertainty(kept_values) * np.where(averaged, PAIR_MEAN_SIGMA_FACTOR, 1.0)
    in_file_order = np.argsort(keep_rows, kind="stable")
    return (
        keep_rows[in_file_order],
        kept_values[in_file_order],
        uncertainty[in_file_order],
        averaged[in_file_order],
        int(unpaired_rows.size),
    )


# --------------------------------------------------------------------------------------------
# 5. report


def describe(result: ReciprocalResult, *, unit: str = "ohm", max_listed: int = 3) -> list[str]:
    """Lines for ``hpcinv data`` and the run log. Rows are the 0-based indices of the result
    (the caller may map them to file lines)."""
    model = result.model
    lines = [
        f"reciprocal pairs: {result.n_pairs:,} of {result.n_data:,} data "
        f"({result.n_unpaired:,} unpaired)",
        f"error model (one reading, 1 sd): {model.a:.2g} {unit} + {100 * model.b:.2g}% |R| "
        f"from {model.n_pairs:,} pairs in {model.n_bins_used} bins; pair means get it / sqrt(2)",
    ]
    n_dropped = result.dropped_rows.shape[0]
    threshold = f"reciprocal error > {100 * result.max_relative_error:.3g}%"
    if n_dropped == 0:
        lines.append(f"no pairs dropped ({threshold})")
        return lines
    listed = ", ".join(
        f"{normal}/{reciprocal} ({_percent(relative)})"
        for (normal, reciprocal), relative in zip(
            result.dropped_rows[:max_listed], result.dropped_relative_errors[:max_listed]
        )
    )
    more = ", ..." if n_dropped > max_listed else ""
    pairs = "pair" if n_dropped == 1 else "pairs"
    lines.append(f"{n_dropped:,} {pairs} dropped ({threshold}), first: rows {listed}{more}")
    return lines


def _percent(relative: float) -> str:
    return f"{100 * relative:.0f}%" if np.isfinite(relative) else "undefined"


# --------------------------------------------------------------------------------------------
# 6. a file's data


def reciprocal_field_data(
    data: FieldData, *, max_relative_error: float = 0.2, n_bins: int = 20
) -> tuple[FieldData, ReciprocalResult]:
    """``data`` as a run inverts it with ``problem.uncertainty = "reciprocal"``: each kept
    normal/reciprocal pair averaged into its normal row, outlier pairs dropped (listed in
    ``dropped`` with their file lines), every datum's standard deviation from the fitted
    error model (the file's own uncertainties, if any, are replaced), the lines of
    ``describe`` in ``notes``. ``n_bins`` at most: fewer when there are fewer than 5 pairs a
    bin. Volts are divided by their currents first (a pair's two
    readings may use different currents), so such data come back in V/A."""
    survey = data.survey
    values, data_type, current = np.asarray(survey.dobs, float), data.data_type, data.current
    unit = "ohm m" if data_type == "apparent_resistivity" else "ohm"
    if data_type == "volts":
        values = values if current is None else values / current
        data_type, current = "resistance", None
    # at least 5 pairs a bin: a small survey gets fewer bins rather than no error model
    n_pairs = find_reciprocal_pairs(survey.abmn)[0].size
    n_bins = min(n_bins, max(2, n_pairs // 5))
    result = reciprocal_uncertainty(
        survey.abmn, values, max_relative_error=max_relative_error, n_bins=n_bins
    )
    keep = result.keep_rows
    lines = data.data_lines
    line = (lambda row: int(lines[row])) if lines is not None else (lambda row: int(row) + 1)
    dropped = tuple(
        DroppedRow(
            line(normal),
            f"reciprocal error {_percent(relative)} > {100 * max_relative_error:.3g}% "
            f"against line {line(reciprocal)} (dropped too)",
            "",
        )
        for (normal, reciprocal), relative in zip(
            result.dropped_rows, result.dropped_relative_errors
        )
    )
    notes = describe(result, unit=unit)[:2]  # the dropped pairs are listed with their lines
    notes.append(
        f"{len(dropped)} pair(s) dropped (reciprocal error > {100 * max_relative_error:.3g}%), "
        "listed under dropped"
    )
    kept = Survey(
        survey.electrodes, survey.abmn[keep], result.values, result.uncertainty, name=survey.name
    )
    return (
        dataclasses.replace(
            data,
            survey=kept,
            data_type=data_type,
            current=None if current is None else current[keep],
            data_lines=None if lines is None else lines[keep],
            geometric_factor=None if data.geometric_factor is None else data.geometric_factor[keep],
            dropped=data.dropped + dropped,
            notes=data.notes + tuple(notes),
        ),
        result,
    )
