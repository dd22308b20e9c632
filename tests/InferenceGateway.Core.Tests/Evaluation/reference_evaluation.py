"""Reference figures for the evaluation tests, computed independently of the gateway's code.

Reads JSON {"scores", "labels", "scores_b", "threshold", "latencies"} on stdin and prints JSON with scikit-learn's
AUC, log loss, precision and recall, DeLong's variance from its O(m*n) definition (the structural components
psi(X_i, Y_j) averaged directly, not midranks), the paired DeLong variance of AUC(b) - AUC(a), calibration bins and
nearest-rank percentiles (numpy's inverted_cdf).
"""
import json
import sys

import numpy as np
from sklearn.metrics import log_loss, precision_score, recall_score, roc_auc_score


def components(scores, positive):
    x = scores[positive][:, None]
    y = scores[~positive][None, :]
    psi = (x > y).astype(float) + 0.5 * (x == y)
    return psi.mean(axis=1), psi.mean(axis=0), psi.mean()


def main():
    data = json.load(sys.stdin)
    s = np.array(data["scores"], dtype=float)
    labels = np.array(data["labels"], dtype=float)
    positive = labels >= 0.5
    t = data["threshold"]
    m, n = positive.sum(), (~positive).sum()
    v10, v01, auc_def = components(s, positive)
    out = {
        "auc": float(roc_auc_score(positive, s)),
        "auc_definition": float(auc_def),
        "variance": float(np.var(v10, ddof=1) / m + np.var(v01, ddof=1) / n),
        "log_loss": float(log_loss(labels, s, labels=[0, 1])),
        "precision": float(precision_score(positive, s >= t, zero_division=0)),
        "recall": float(recall_score(positive, s >= t)),
    }
    bins = np.clip(np.floor(s * 10).astype(int), 0, 9)
    out["calibration_counts"] = [int((bins == b).sum()) for b in range(10)]
    out["calibration_predicted"] = [float(s[bins == b].mean()) if (bins == b).any() else None for b in range(10)]
    out["calibration_observed"] = [float(labels[bins == b].mean()) if (bins == b).any() else None for b in range(10)]
    if "scores_b" in data:
        b = np.array(data["scores_b"], dtype=float)
        w10, w01, auc_b = components(b, positive)
        s10 = np.cov(np.vstack([v10, w10]), ddof=1)
        s01 = np.cov(np.vstack([v01, w01]), ddof=1)
        out["paired_difference"] = float(auc_b - auc_def)
        out["paired_variance"] = float((s10[0, 0] + s10[1, 1] - 2 * s10[0, 1]) / m + (s01[0, 0] + s01[1, 1] - 2 * s01[0, 1]) / n)
    lat = np.array(data["latencies"], dtype=float)
    out["p50"] = float(np.percentile(lat, 50, method="inverted_cdf"))
    out["p99"] = float(np.percentile(lat, 99, method="inverted_cdf"))
    json.dump(out, sys.stdout)


main()
