"""Learned edits from the practice's own 835s: the payer x code denial history and a denial-risk score per claim.

* :func:`line_outcomes`: one row per service line of each claim's first submission, with whether the claim's
  first adjudication denied it (a denial CARC on that line, a claim-level denial, or CLP02 = 4; the CARC
  crosswalk of :mod:`rcmkit.core.refdata` decides what a denial is, as the denial KPIs do) and the CARCs.
* :func:`denial_history`: per payer x procedure code (x modifiers), the lines, denials, denial rate and the top
  CARCs, from adjudications *before* a date only.
* :class:`RiskModel`: a logistic regression (scikit-learn) on the claim's history-based rates (target encoding,
  smoothed toward the payer's rate: Micci-Barreca 2001, "A preprocessing scheme for high-cardinality categorical
  attributes"), its scrub findings and its shape, trained on claims adjudicated before the scored month. Each
  score comes with its top reasons: the features whose coefficient x standardized value pushes it up most.
  The baseline it is judged against (:func:`baseline_scores`) is the payer x code denial rate itself:
  1 - prod(1 - rate) over the claim's lines.

No leakage from the future: a row submitted in month m sees only adjudications dated before m's first day, and
the model for month M is trained on claims whose first adjudication came before M.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import numpy as np
import pandas as pd

from rcmkit.core.refdata import classify_adjustments
from rcmkit.metrics.denials import remit_flags
from rcmkit.scrub.rules import RULES

__all__ = ["line_outcomes", "denial_history", "claim_frame", "RiskModel", "baseline_scores", "evaluate",
           "FEATURE_WORDS"]

_SMOOTH = 10.0  # pseudo-lines pulling a thin payer x code rate toward the payer's rate


def line_outcomes(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Lines of each claim's first submission with its first adjudication: claim_id, submission_id, payer_id,
    procedure_code, modifiers, line_number, submitted_on, decided_on (NaT: not adjudicated yet), denied, carcs."""
    claims, lines = tables["claims"], tables["claim_lines"]
    first = claims.sort_values(["claim_id", "submitted_on", "submission_id"]).drop_duplicates("claim_id")
    out = lines.merge(first[["submission_id", "claim_id", "payer_id", "submitted_on"]], on="submission_id")
    remits = tables.get("remittances")
    if remits is None or remits.empty:
        return out.assign(decided_on=pd.NaT, denied=False, carcs="")
    flags = remit_flags(tables)
    flags = flags[~flags["duplicate"]].sort_values(["claim_id", "paid_on", "remit_id"]).drop_duplicates("claim_id")
    adj = classify_adjustments(tables["adjustments"])
    den = adj[(adj["treatment"] == "denial") & (adj["amount_cents"] > 0) & adj["remit_id"].isin(flags["remit_id"])]
    den = den.assign(carc=den["group_code"] + "-" + den["reason_code"])
    claim_level = den[den["line_number"].isna()].groupby("remit_id")["carc"].agg(lambda s: ", ".join(sorted(set(s))))
    rl = tables["remit_lines"][["remit_id", "line_number", "procedure_code"]]
    line_den = den[den["line_number"].notna()].merge(rl, on=["remit_id", "line_number"])
    line_den = line_den.groupby(["remit_id", "procedure_code"])["carc"].agg(lambda s: ", ".join(sorted(set(s))))
    f = flags[["claim_id", "remit_id", "paid_on", "any_denial", "status_code"]]
    out = out.merge(f, on="claim_id", how="left")
    cl = out["remit_id"].map(claim_level)
    ln = pd.Series(list(zip(out["remit_id"], out["procedure_code"])), index=out.index).map(line_den)
    status4 = out["status_code"] == "4"
    denied = out["any_denial"].fillna(False).astype(bool) & (cl.notna() | ln.notna() | status4)
    carcs = np.where(ln.notna(), ln.astype(object), np.where(cl.notna(), cl.astype(object),
                                                             np.where(status4, "CLP02-4", "")))
    carcs = pd.Series(carcs, index=out.index, dtype=object).where(denied, "")
    return out.assign(decided_on=out["paid_on"], denied=denied, carcs=carcs).drop(
        columns=["remit_id", "paid_on", "any_denial", "status_code"]).reset_index(drop=True)


def denial_history(outcomes: pd.DataFrame, before: pd.Timestamp | str | None = None,
                   by: tuple[str, ...] = ("payer_id", "procedure_code"), top: int = 2) -> pd.DataFrame:
    """Per ``by`` group: lines adjudicated before ``before`` (all when None), denied, denial_rate, top_carcs."""
    o = outcomes[outcomes["decided_on"].notna()]
    if before is not None:
        o = o[o["decided_on"] < pd.Timestamp(before)]
    by = list(by)
    if o.empty:
        return pd.DataFrame(columns=by + ["lines", "denied", "denial_rate", "top_carcs"])
    g = o.groupby(by, sort=True)
    out = g.agg(lines=("denied", "size"), denied=("denied", "sum")).reset_index()
    out["denied"] = out["denied"].astype(int)
    out["denial_rate"] = out["denied"] / out["lines"]
    carcs = o[o["denied"]].assign(carc=o["carcs"].str.split(", ")).explode("carc")
    if len(carcs):
        counts = carcs.groupby(by + ["carc"]).size().rename("n").reset_index()
        counts = counts.sort_values(by + ["n", "carc"], ascending=[True] * len(by) + [False, True])
        topc = counts.groupby(by).head(top).assign(t=lambda d: d["carc"] + " (" + d["n"].astype(str) + ")")
        topc = topc.groupby(by)["t"].agg(", ".join).rename("top_carcs").reset_index()
        out = out.merge(topc, on=by, how="left")
    else:
        out["top_carcs"] = None
    out["top_carcs"] = out["top_carcs"].fillna("")
    return out


# ------------------------------------------------------------------------------------------------ features
#: The scrub rules that become model features (a flag each), and the plain words of every feature.
RULE_FEATURES = ("dx_invalid", "dx_not_billable", "npi_invalid", "modifier25_missing", "duplicate", "timely_filing")
FEATURE_WORDS = {
    "pc_rate_any": "this payer often denies these codes",
    "pcm_rate_max": "this payer often denies this code with these modifiers",
    "payer_rate": "this payer denies often",
    "n_lines": "many lines",
    "log_charge": "a large charge",
    "n_dx": "many diagnoses",
    "lag_days": "sent long after the visit",
    "other_errors": "other scrub errors",
    **{f"rule_{r}": (t[0].lower() + t[1:] if t[1:2].islower() else t) for r in RULE_FEATURES
       for t in [RULES[r].title]},
}


def _smoothed(hist: pd.DataFrame, keys: list[str], prior: pd.Series) -> pd.Series:
    return (hist["denied"] + _SMOOTH * prior) / (hist["lines"] + _SMOOTH)


def _rates_for(rows: pd.DataFrame, outcomes: pd.DataFrame, before: pd.Timestamp) -> pd.DataFrame:
    """Per line of ``rows``: smoothed payer, payer x code and payer x code x modifiers rates from adjudications
    decided before ``before``."""
    o = outcomes[outcomes["decided_on"].notna() & (outcomes["decided_on"] < before)]
    glob = (o["denied"].sum() + 1.0) / (len(o) + 10.0)
    pay = o.groupby("payer_id")["denied"].agg(["sum", "size"])
    pay_rate = (pay["sum"] + _SMOOTH * glob) / (pay["size"] + _SMOOTH)
    r = rows.copy()
    r["payer_rate"] = r["payer_id"].map(pay_rate).fillna(glob).astype(float)
    pc = o.groupby(["payer_id", "procedure_code"])["denied"].agg(["sum", "size"]).reset_index()
    r = r.merge(pc, on=["payer_id", "procedure_code"], how="left")
    r["pc_rate"] = (r["sum"].fillna(0) + _SMOOTH * r["payer_rate"]) / (r["size"].fillna(0) + _SMOOTH)
    r = r.drop(columns=["sum", "size"])
    pcm = o.groupby(["payer_id", "procedure_code", "modifiers"])["denied"].agg(["sum", "size"]).reset_index()
    r = r.merge(pcm, on=["payer_id", "procedure_code", "modifiers"], how="left")
    r["pcm_rate"] = (r["sum"].fillna(0) + _SMOOTH * r["pc_rate"]) / (r["size"].fillna(0) + _SMOOTH)
    return r.drop(columns=["sum", "size"])


def claim_frame(claims: pd.DataFrame, lines: pd.DataFrame, outcomes: pd.DataFrame,
                findings: pd.DataFrame | None = None, *, history_before: pd.Timestamp | None = None) -> pd.DataFrame:
    """One row per submission of ``claims``: the model's features. Each row's rates come from adjudications
    before the first day of its own submission month, or before ``history_before`` when given (scoring a batch)."""
    c = claims[["submission_id", "claim_id", "payer_id", "submitted_on", "service_from", "total_charge_cents",
                "diagnosis_codes"]].copy()
    ln = lines.merge(c[["submission_id", "payer_id", "submitted_on"]], on="submission_id")
    ln["modifiers"] = ln["modifiers"].fillna("")
    month = ln["submitted_on"].dt.to_period("M").dt.start_time
    parts = []
    if history_before is not None:
        parts.append(_rates_for(ln, outcomes, pd.Timestamp(history_before)))
    else:
        for m, rows in ln.groupby(month):
            parts.append(_rates_for(rows, outcomes, m))
    rates = pd.concat(parts, ignore_index=True) if parts else ln.assign(payer_rate=0.0, pc_rate=0.0, pcm_rate=0.0)
    g = rates.groupby("submission_id")
    agg = pd.DataFrame({  # the chance some line is denied: 1 - the product of each line's (1 - rate), in line order
        "pc_rate_any": 1 - (1 - rates["pc_rate"]).groupby(rates["submission_id"]).prod(),
        "pcm_rate_max": g["pcm_rate"].max(),
        "payer_rate": g["payer_rate"].max(),
        "n_lines": g.size(),
    })
    c = c.merge(agg, left_on="submission_id", right_index=True, how="left")
    c["log_charge"] = np.log1p(c["total_charge_cents"] / 100.0)
    c["n_dx"] = c["diagnosis_codes"].map(lambda d: len(d) if d is not None else 0)
    c["lag_days"] = (c["submitted_on"] - c["service_from"]).dt.days.clip(lower=0)
    f = findings if findings is not None else pd.DataFrame(columns=["submission_id", "rule", "severity"])
    errs = f[f["severity"] == "error"]
    for r in RULE_FEATURES:
        c[f"rule_{r}"] = c["submission_id"].isin(errs.loc[errs["rule"] == r, "submission_id"]).astype(float)
    other = errs[~errs["rule"].isin(RULE_FEATURES)].groupby("submission_id").size()
    c["other_errors"] = c["submission_id"].map(other).fillna(0).astype(float)
    return c.fillna({"pc_rate_any": 0.0, "pcm_rate_max": 0.0, "payer_rate": 0.0, "n_lines": 0})


FEATURES = ["pc_rate_any", "pcm_rate_max", "payer_rate", "n_lines", "log_charge", "n_dx", "lag_days",
            "other_errors"] + [f"rule_{r}" for r in RULE_FEATURES]


def baseline_scores(frame: pd.DataFrame) -> np.ndarray:
    """The payer x code baseline: the chance some line is denied if lines were denied at their payer x code rate."""
    return frame["pc_rate_any"].to_numpy(dtype=float)


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-4, 1 - 1e-4)
    return np.log(p / (1 - p))


def _matrix(frame: pd.DataFrame) -> np.ndarray:
    x = frame[FEATURES].to_numpy(dtype=float).copy()
    for j, name in enumerate(FEATURES):
        if name.endswith("rate_any") or name.endswith("rate_max") or name == "payer_rate":
            x[:, j] = _logit(x[:, j])
    return x


@dataclass
class RiskModel:
    """Logistic regression (scikit-learn, L2, balanced by nothing: its scores are probabilities) on
    :data:`FEATURES`, standardized. ``fit`` then ``score``; reasons per claim from coefficient x z-value."""

    C: float = 1.0
    model: object = field(default=None, repr=False)
    scaler: object = field(default=None, repr=False)
    trained_on: int = 0

    def fit(self, frame: pd.DataFrame, labels: np.ndarray) -> RiskModel:
        from sklearn.linear_model import LogisticRegression
        from sklearn.preprocessing import StandardScaler

        labels = np.asarray(labels, dtype=int)
        if len(np.unique(labels)) < 2:
            raise ValueError("the risk model needs denied and paid claims in its training months; "
                             f"got {len(labels)} claim(s) with one outcome only")
        self.scaler = StandardScaler().fit(_matrix(frame))
        self.model = LogisticRegression(C=self.C, max_iter=1000).fit(self.scaler.transform(_matrix(frame)), labels)
        self.trained_on = len(labels)
        return self

    def score(self, frame: pd.DataFrame) -> np.ndarray:
        if len(frame) == 0:
            return np.zeros(0)
        return self.model.predict_proba(self.scaler.transform(_matrix(frame)))[:, 1]

    def reasons(self, frame: pd.DataFrame, top: int = 3) -> list[str]:
        """Per row, the ``top`` features pushing its score up most, in plain words ('' when none pushes up)."""
        if len(frame) == 0:
            return []
        z = self.scaler.transform(_matrix(frame))
        coef = self.model.coef_[0]
        # only a feature above its usual value with a positive weight reads as "this pushes the risk up" in words
        contrib = np.where((z > 0) & (coef > 0), z * coef, 0.0)
        out = []
        for row in contrib:
            idx = [i for i in np.argsort(-row, kind="stable")[:top] if row[i] > 0.05]
            out.append("; ".join(FEATURE_WORDS[FEATURES[i]] for i in idx))
        return out


def labels_for(frame: pd.DataFrame, outcomes: pd.DataFrame) -> pd.DataFrame:
    """Per claim of ``frame``: decided_on (its first adjudication) and denied (any line denied)."""
    g = outcomes.groupby("claim_id").agg(decided_on=("decided_on", "min"), denied=("denied", "any"))
    return frame[["claim_id"]].join(g, on="claim_id")[["decided_on", "denied"]]


def evaluate(claims: pd.DataFrame, lines: pd.DataFrame, outcomes: pd.DataFrame, month: str,
             findings: pd.DataFrame | None = None) -> dict:
    """The honest time split: train on original claims submitted and adjudicated before ``month``, score the
    original claims submitted in ``month`` (those adjudicated by the data's end), against the baseline."""
    from sklearn.metrics import brier_score_loss, roc_auc_score

    start = pd.Period(month, "M").start_time
    end = (pd.Period(month, "M") + 1).start_time
    orig = claims[claims["submission_id"].isin(outcomes["submission_id"])]
    frame = claim_frame(orig, lines, outcomes, findings)
    lab = labels_for(frame, outcomes)
    train = (frame["submitted_on"] < start) & lab["decided_on"].notna() & (lab["decided_on"] < start)
    test = (frame["submitted_on"] >= start) & (frame["submitted_on"] < end) & lab["decided_on"].notna()
    model = RiskModel().fit(frame[train], lab.loc[train, "denied"].to_numpy())
    y = lab.loc[test, "denied"].to_numpy(dtype=int)
    p_model, p_base = model.score(frame[test]), baseline_scores(frame[test])

    def top_decile(p: np.ndarray) -> float:
        k = max(1, int(np.ceil(len(p) * 0.1)))
        return float(y[np.argsort(-p, kind="stable")[:k]].mean())

    def auc(p: np.ndarray) -> float:
        return float(roc_auc_score(y, p)) if len(np.unique(y)) == 2 else float("nan")

    def deciles(p: np.ndarray) -> pd.DataFrame:
        d = pd.DataFrame({"p": p, "y": y})
        d["decile"] = pd.qcut(d["p"].rank(method="first"), 10, labels=False) + 1
        return d.groupby("decile").agg(claims=("y", "size"), predicted=("p", "mean"), denied=("y", "mean"))

    return {
        "month": month, "train_claims": int(train.sum()), "test_claims": int(test.sum()),
        "test_denial_rate": float(y.mean()) if len(y) else float("nan"),
        "model": {"auc": auc(p_model), "top_decile_precision": top_decile(p_model),
                  "brier": float(brier_score_loss(y, p_model)), "deciles": deciles(p_model)},
        "baseline": {"auc": auc(p_base), "top_decile_precision": top_decile(p_base),
                     "brier": float(brier_score_loss(y, p_base)), "deciles": deciles(p_base)},
        "coefficients": dict(zip(FEATURES, map(float, model.model.coef_[0]))),
        "test_submissions": frame.loc[test, "submission_id"].to_numpy(),
        "test_scores": p_model,
    }
