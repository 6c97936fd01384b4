"""The estimators behind the cash forecast: product-limit (Kaplan-Meier) curves by age, in numpy.

Two estimators, both product-limit (Kaplan & Meier 1958) with delayed entry (left truncation) and right
censoring at the as-of date:

* :func:`claim_hazards`: the classic one, one event per claim: the hazard of a claim's **first adjudication** at
  age ``k`` (days since its charge posted) = claims first adjudicated at age k / claims still waiting and
  observed at age k. What the payer's time-to-pay curve of a claim not yet adjudicated comes from.
* :func:`money_hazards`: the dollar-weighted form (an A/R liquidation curve): of the dollars open at age k
  (the "risk set" is dollars, not claims), the share collected that day, and the share that left A/R any way
  that day (collected, adjusted off, moved to the patient). A balance is paid in parts, on several days, and can
  grow (a reversal, a transfer in), which one-event-per-subject estimators (lifelines' KaplanMeierFitter,
  AalenJohansenFitter) do not model; the dollar-weighted product-limit is a few vectorised numpy lines.
  Cash and other exits are competing risks: the expected cash share of a balance is the Aalen-Johansen
  cumulative incidence ``sum_k S(k-1) * cash_hazard(k)``, where ``S`` is the product-limit survival of a dollar
  against every exit (:func:`cumulative_share`).

Hazards are smoothed over a week of ages (claims are billed on every weekday, payers pay on a few) and shrunk
toward their parent (a payer toward its payer class, a class toward all insurance) with ``weight`` pseudo-units
of the parent's hazard, so a small payer borrows strength instead of reading noise.

Every array is indexed ``[segment, age]`` with ages ``0..max_age``; ages beyond ``max_age`` are pooled into it.
"""

from __future__ import annotations

import numpy as np

__all__ = ["claim_hazards", "money_hazards", "smooth", "shrink", "cumulative_share", "cumulative_share_rows",
           "chain_share", "chain_share_at"]


def _window_sum(values: np.ndarray, width: int) -> np.ndarray:
    """Centered moving sum over the last axis (``width`` odd), shrinking at the edges."""
    if width <= 1:
        return values
    half = width // 2
    padded = np.concatenate([np.zeros(values.shape[:-1] + (1,)), np.cumsum(values, axis=-1)], axis=-1)
    n = values.shape[-1]
    hi = np.minimum(np.arange(n) + half + 1, n)
    lo = np.maximum(np.arange(n) - half, 0)
    return padded[..., hi] - padded[..., lo]


def smooth(num: np.ndarray, den: np.ndarray, width: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """Numerator and denominator summed over ``width`` neighbouring ages (a hazard's weekly smoothing)."""
    return _window_sum(num, width), _window_sum(den, width)


def shrink(num: np.ndarray, den: np.ndarray, parent: np.ndarray, weight: float) -> np.ndarray:
    """The hazard ``(num + weight * parent) / (den + weight)``: the raw rate when ``den`` is large, the parent's
    when it is empty (a credibility-weighted rate, Buhlmann style)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (num + weight * parent) / (den + weight)
    return np.nan_to_num(np.clip(out, 0.0, 1.0))


def claim_hazards(segment: np.ndarray, entry: np.ndarray, exit_: np.ndarray, event: np.ndarray,
                  n_segments: int, max_age: int) -> tuple[np.ndarray, np.ndarray]:
    """Events and risk sets of a one-event-per-subject product-limit estimator, by segment and age.

    Subject i is observed from age ``entry[i]`` to ``exit_[i]`` (inclusive; delayed entry = left truncation by
    the look-back window), and has its event at ``exit_[i]`` when ``event[i]``, else is censored there (still
    waiting at the as-of date). Returns ``(d, n)``: events at age k and subjects at risk at age k, arrays of
    shape ``(n_segments, max_age + 1)``. The hazard is ``d / n``; the Kaplan-Meier survival ``prod(1 - d/n)``.
    """
    width = max_age + 2
    entry = np.clip(entry, 0, max_age)
    exit_ = np.clip(exit_, 0, max_age)
    keep = exit_ >= entry
    seg, entry, exit_, event = segment[keep], entry[keep], exit_[keep], event[keep].astype(bool)
    size = n_segments * width
    diff = np.bincount(seg * width + entry, minlength=size) - np.bincount(seg * width + exit_ + 1, minlength=size)
    n = np.cumsum(diff.reshape(n_segments, width), axis=1)[:, :-1].astype(float)
    d = np.bincount(seg[event] * width + exit_[event], minlength=size).astype(float)
    return d.reshape(n_segments, width)[:, :-1], n


def money_hazards(segment: np.ndarray, age: np.ndarray, amount: np.ndarray, cash: np.ndarray, lo: np.ndarray,
                  hi: np.ndarray, n_segments: int, max_age: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dollar-weighted product-limit inputs by segment and age: ``(cash, out, at_risk)``.

    Each row is a ledger event of one balance (a claim's balance with one responsible party): ``amount`` (signed,
    charges +, credits -) posted at ``age``; ``cash`` the amount collected by it (payments +, refunds and
    reversals -, 0 for an adjustment); the balance is observed over ages ``lo..hi`` (from the look-back window's
    start, or the day after its first adjudication, to the as-of date). An event before ``lo`` only carries
    into the balance observed at ``lo``.

    * ``at_risk[s, k]``: dollars open at age k before the day's credits (balance at the end of age k plus the
      credits of age k), summed over the balances observed at age k;
    * ``out[s, k]``: credits posted at age k (every way a dollar leaves: payment, adjustment, transfer);
    * ``cash[s, k]``: dollars collected at age k.
    """
    width = max_age + 2
    age = np.clip(age, 0, max_age)
    lo = np.clip(lo, 0, max_age + 1)
    hi = np.clip(hi, -1, max_age)
    start = np.maximum(age, lo)
    carried = start <= hi
    size = n_segments * width
    seg_c = segment[carried] * width
    diff = _sums(seg_c + start[carried], amount[carried], size) - _sums(seg_c + hi[carried] + 1, amount[carried], size)
    balance = np.cumsum(diff.reshape(n_segments, width), axis=1)[:, :-1]
    seen = (age >= lo) & (age <= hi)
    credit = seen & (amount < 0)
    out = _sums(segment[credit] * width + age[credit], -amount[credit], size)
    got = _sums(segment[seen] * width + age[seen], cash[seen], size)
    out = out.reshape(n_segments, width)[:, :-1]
    return got.reshape(n_segments, width)[:, :-1], out, np.maximum(balance + out, 0.0)


def _sums(index: np.ndarray, weights: np.ndarray, size: int) -> np.ndarray:
    """``out[j] = sum(weights[index == j])`` for ``j < size`` (np.bincount: one pass, unlike np.add.at)."""
    return np.bincount(index, weights=weights, minlength=size).astype(float)


def cumulative_share(cash_hazard: np.ndarray, exit_hazard: np.ndarray, ages: np.ndarray, horizon: int
                     ) -> tuple[np.ndarray, np.ndarray]:
    """For a dollar open at the end of age ``a`` (each of ``ages``; -1 = a dollar about to be billed), the
    expected share collected within the next ``L`` days, ``L = 0..horizon``: ``G[i, L] = sum_{k=a+1}^{a+L}
    S(k-1 | a) * cash_hazard(k)`` with ``S(k | a) = prod_{j=a+1}^{k} (1 - exit_hazard(j))``; and the density of
    exits, ``D[i, L] = S(a+L-1 | a) * exit_hazard(a+L)`` (``D[:, 0] = 0``). Returns ``(G, D)``, each
    ``(len(ages), horizon + 1)``."""
    hazards = np.asarray(cash_hazard, dtype=float)[None, :], np.asarray(exit_hazard, dtype=float)[None, :]
    return cumulative_share_rows(*hazards, np.zeros(len(ages), dtype=np.int64), ages, horizon)


def cumulative_share_rows(cash_hazards: np.ndarray, exit_hazards: np.ndarray, rows: np.ndarray, ages: np.ndarray,
                          horizon: int, columns=None) -> tuple[np.ndarray, np.ndarray | None]:
    """:func:`cumulative_share` of many curves at once: row ``i`` is the balance at age ``ages[i]`` (>= -1) under
    the hazards of segment ``rows[i]`` (``cash_hazards[rows[i]]``, ``exit_hazards[rows[i]]``). Each row's numbers
    are the ones :func:`cumulative_share` gives it (the same steps, element by element), without a loop per
    segment. With ``columns`` (horizons), only ``G[:, columns]`` is kept and returned, with None for ``D``."""
    ages = np.asarray(ages, dtype=np.int64)
    rows = np.asarray(rows, dtype=np.int64)
    keep = None if columns is None else {int(c): j for j, c in enumerate(columns)}
    g = np.zeros((len(ages), horizon + 1 if keep is None else len(keep)))
    dens = np.zeros((len(ages), horizon + 1)) if keep is None else None
    if not len(ages):
        return g, dens
    need = int(ages.max()) + horizon + 1
    cash = _pad_rows(cash_hazards, need)
    exit_ = _pad_rows(exit_hazards, need)
    surv = np.ones(len(ages))
    total = np.zeros(len(ages))
    for step in range(1, horizon + 1):
        k = ages + step
        x = exit_[rows, k]
        total = total + surv * cash[rows, k]
        if keep is None:
            g[:, step] = total
            dens[:, step] = surv * x
        elif step in keep:
            g[:, keep[step]] = total
        surv = surv * (1.0 - x)
    return g, dens


def _pad_rows(hazards: np.ndarray, length: int) -> np.ndarray:
    """Each row of ``hazards`` carried to ``length`` ages with its last age's hazard (zeros for an empty curve)."""
    if hazards.shape[1] >= length:
        return hazards
    if not hazards.shape[1]:
        return np.zeros((hazards.shape[0], length))
    return np.concatenate([hazards, np.repeat(hazards[:, -1:], length - hazards.shape[1], axis=1)], axis=1)


def chain_share(density: np.ndarray, ages: np.ndarray, next_share) -> np.ndarray:
    """Cash that follows an event: ``out[i, h] = sum_{L=1}^{h} density[i, L] * next_share(ages[i] + L)[h - L]``,
    where ``density[i, L]`` is the chance the event (a first adjudication) happens ``L`` days after age
    ``ages[i]`` and ``next_share(a)`` is the cumulative cash share, over ``0..horizon`` days, of a balance that
    appears at age ``a`` (the patient's share of an adjudicated claim). ``next_share`` takes an array of ages
    and returns a matrix ``(len(ages), horizon + 1)``."""
    n, width = density.shape
    out = np.zeros((n, width))
    ages = np.asarray(ages, dtype=np.int64)
    for step in range(1, width):
        follow = next_share(ages + step)  # (n, width)
        out[:, step:] += density[:, step:step + 1] * follow[:, :width - step]
    return out


def chain_share_at(density: np.ndarray, ages: np.ndarray, share_at, columns) -> np.ndarray:
    """:func:`chain_share`'s ``out[:, columns]`` alone: the same terms added in the same order, for a few horizons
    (the forecast's window bounds, the write-offs' 120 and 365 days) instead of all. ``share_at(ages, lags)``
    returns ``next_share(ages)[:, lags]`` (a matrix ``(len(ages), len(lags))``)."""
    n, width = density.shape
    columns = np.asarray(columns, dtype=np.int64)
    out = np.zeros((n, len(columns)))
    ages = np.asarray(ages, dtype=np.int64)
    for step in range(1, min(width, int(columns.max(initial=0)) + 1)):
        live = columns >= step
        out[:, live] += density[:, step:step + 1] * share_at(ages + step, columns[live] - step)
    return out
