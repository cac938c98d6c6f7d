#!/usr/bin/env python3
"""Reference outputs of scikit-learn for the linear probe and the metrics (ProbeTests, MetricsTests).

Run from this folder:  python3 make_sklearn_fixture.py   (writes sklearn_fixture.json)
Needs numpy and scikit-learn (only to regenerate the fixture; not a build or CI dependency).

Features are multiples of 1/64, so the float32 features the Swift probe takes are exactly the
float64 values scikit-learn fits on.

Binary problems: scikit-learn >= 1.5 fits a binomial model (one vector w, intercept c) for
K = 2 and no longer accepts multi_class="multinomial". The symmetric two-row multinomial
objective  1/2 (|w0|^2 + |w1|^2) + C sum CE  is minimised at w1 = -w0 = w/2, and then equals
1/2 [1/2 |w|^2 + 2C sum logloss(w x + c)], i.e. the binomial objective at 2C. So the two-row
reference at C is the binomial fit at 2C written as W = [-w/2, +w/2], b = [-c/2, +c/2]
(the CV grid is doubled the same way, and C_ halved back).
"""
import json
import warnings

import numpy as np
import sklearn
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
from sklearn.metrics import brier_score_loss, f1_score, log_loss, matthews_corrcoef
from sklearn.model_selection import StratifiedKFold

warnings.filterwarnings("ignore", category=FutureWarning)

CS = np.logspace(-4, 4, 10)


def blobs(rng, counts, dimension, spread):
    """Gaussian blobs with overlapping means; labels interleaved in a random order."""
    means = rng.normal(0.0, spread, size=(len(counts), dimension))
    labels = np.concatenate([np.full(n, k) for k, n in enumerate(counts)])
    rng.shuffle(labels)
    features = means[labels] + rng.normal(0.0, 1.0, size=(len(labels), dimension))
    features = np.round(features * 64) / 64  # exact in float32
    return features, labels


def two_row(coef, intercept, binary):
    """sklearn coef_/intercept_ -> (K, D) weight and (K) bias of the symmetric softmax."""
    if binary:
        w, c = coef[0], intercept[0]
        return np.stack([-w / 2, w / 2]), np.array([-c / 2, c / 2])
    return coef, intercept


def softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def objective(weight, bias, x, y, c):
    """1/2 |W|^2 + C sum_i CE_i (the quantity scikit-learn minimises for multinomial)."""
    z = x @ weight.T + bias
    m = z.max(axis=1, keepdims=True)
    lse = (m + np.log(np.exp(z - m).sum(axis=1, keepdims=True)))[:, 0]
    return 0.5 * np.sum(weight**2) + c * np.sum(lse - z[np.arange(len(y)), y])


def probe_case(name, rng, counts, dimension, spread, test_count):
    """Blobs of `counts` examples per class; the last `test_count` rows are the held-out test part."""
    x_all, y_all = blobs(rng, counts, dimension, spread)
    n_train = sum(counts) - test_count
    x, y, x_test, y_test = x_all[:n_train], y_all[:n_train], x_all[n_train:], y_all[n_train:]
    binary = len(counts) == 2
    assert len(np.unique(y)) == len(counts)
    factor = 2.0 if binary else 1.0

    fixed = {}
    for label, tol in (("default", 1e-4), ("tight", 1e-10)):
        model = LogisticRegression(C=1.0 * factor, solver="lbfgs", tol=tol, max_iter=100000).fit(x, y)
        weight, bias = two_row(model.coef_, model.intercept_, binary)
        fixed[label] = {
            "tolerance": tol,
            "weight": weight.ravel().tolist(),
            "bias": bias.tolist(),
            "iterations": int(model.n_iter_[0]),
            "objective": objective(weight, bias, x, y, 1.0),
            "test_probabilities": softmax(x_test @ weight.T + bias).ravel().tolist(),
        }
        # The two-row form reproduces scikit-learn's own probabilities.
        assert np.allclose(softmax(x_test @ weight.T + bias), model.predict_proba(x_test), atol=1e-12)

    cv = LogisticRegressionCV(Cs=CS * factor, cv=5, solver="lbfgs", tol=1e-4, max_iter=5000,
                              l1_ratios=(0,), scoring=None, use_legacy_attributes=True).fit(x, y)
    weight, bias = two_row(cv.coef_, cv.intercept_, binary)
    scores = next(iter(cv.scores_.values()))  # (folds, Cs, l1_ratios = 1)
    scores = scores.reshape(scores.shape[0], len(CS))
    probabilities = softmax(x_test @ weight.T + bias)
    assert np.allclose(probabilities, cv.predict_proba(x_test), atol=1e-12)
    folds = StratifiedKFold(n_splits=5, shuffle=False)._make_test_folds(x, y)
    return name, {
        "classes": len(counts),
        "dimension": dimension,
        "train_count": int(n_train),
        "test_count": int(len(y_test)),
        "features": x.ravel().tolist(),
        "labels": y.tolist(),
        "test_features": x_test.ravel().tolist(),
        "test_labels": y_test.tolist(),
        "stratified_folds": folds.tolist(),
        "fixed_strength": 1.0,
        "fixed": fixed,
        "cv": {
            "strengths": (CS).tolist(),
            "best_strength": float(cv.C_[0] / factor),
            "mean_accuracy_per_strength": scores.mean(axis=0).tolist(),
            "fold_accuracies": scores.tolist(),
            "weight": weight.ravel().tolist(),
            "bias": bias.tolist(),
            "test_probabilities": probabilities.ravel().tolist(),
            "test_accuracy": float(np.mean(probabilities.argmax(axis=1) == y_test)),
        },
    }


def ece_mce(probabilities, labels, bins=15):
    """The common (Guo et al.) _ECELoss: bins (lower, upper] of linspace(0, 1, bins + 1)."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    boundaries = np.linspace(0, 1, bins + 1)
    ece, mce = 0.0, 0.0
    for lower, upper in zip(boundaries[:-1], boundaries[1:]):
        inside = (confidence > lower) & (confidence <= upper)
        if inside.any():
            gap = abs(correct[inside].mean() - confidence[inside].mean())
            ece += inside.mean() * gap
            mce = max(mce, gap)
    return ece, mce


def metrics_case(rng):
    classes, count = 4, 60
    labels = rng.integers(0, classes, size=count)
    logits = rng.normal(0.0, 2.0, size=(count, classes))
    logits[np.arange(count), labels] += 1.5          # better than chance
    logits[:, 3] -= 4.0                              # class 3 is rarely predicted
    logits = np.round(logits * 1024) / 1024
    probabilities = softmax(logits)
    predicted = probabilities.argmax(axis=1)
    ece, mce = ece_mce(probabilities, labels)
    return {
        "classes": classes,
        "logits": logits.ravel().tolist(),
        "labels": labels.tolist(),
        "predicted": predicted.tolist(),
        "macro_f1": f1_score(labels, predicted, average="macro", zero_division=0),
        "mcc": matthews_corrcoef(labels, predicted),
        "nll": log_loss(labels, probabilities, labels=list(range(classes))),
        "brier": brier_score_loss(labels, probabilities, labels=list(range(classes)), scale_by_half=False),
        "accuracy": float(np.mean(predicted == labels)),
        "ece": ece,
        "mce": mce,
    }


def main():
    rng = np.random.default_rng(20240516)
    cases = dict([
        probe_case("multiclass", rng, counts=[140, 120, 100], dimension=20, spread=0.45, test_count=60),
        probe_case("binary", rng, counts=[165, 135], dimension=16, spread=0.35, test_count=60),
    ])
    fold_labels = [7, 3, 3, 7, 1, 3, 7, 7, 1, 3, 3, 1, 7, 3, 1, 1, 3, 7, 3, 3, 1, 7, 3]
    fixture = {
        "generator": f"make_sklearn_fixture.py, scikit-learn {sklearn.__version__}, numpy {np.__version__}",
        "probe": cases,
        "fold_check": {
            "labels": fold_labels,
            "folds": 5,
            "stratified_folds": StratifiedKFold(5)._make_test_folds(np.zeros(len(fold_labels)), np.array(fold_labels)).tolist(),
        },
        "metrics": metrics_case(rng),
    }
    with open("sklearn_fixture.json", "w") as f:
        json.dump(fixture, f, separators=(",", ":"))


if __name__ == "__main__":
    main()
