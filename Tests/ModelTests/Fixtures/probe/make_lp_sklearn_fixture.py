"""sklearn reference for the linear probe on real MiniLM features (not run by the tests).

Features come from lpft-mpi itself (eval-mode [CLS] states of all-MiniLM-L6-v2), so both
sides fit the same numbers:
    lpft-mpi embed --task sentiment-ood --split train --max 400 --json > /tmp/feat_train.json
    lpft-mpi embed --task sentiment-ood --split test  --max 200 --json > /tmp/feat_test.json
    python3 make_lp_sklearn_fixture.py /tmp/feat_train.json /tmp/feat_test.json > lp_sklearn_sentiment_ood.json  # 2>/dev/null hides FutureWarnings
"""
import json, sys
import numpy as np
import sklearn
from sklearn.linear_model import LogisticRegressionCV

train = json.load(open(sys.argv[1]))
test = json.load(open(sys.argv[2]))
X, y = np.array(train["embeddings"], dtype=np.float64), np.array(train["labels"])
Xt, yt = np.array(test["embeddings"], dtype=np.float64), np.array(test["labels"])
probe = LogisticRegressionCV(Cs=np.logspace(-4, 4, 10), cv=5, penalty="l2", solver="lbfgs", tol=1e-4,
                             max_iter=5000).fit(X, y)
pred = probe.predict(Xt)
print(json.dumps({
    "sklearn": sklearn.__version__,
    "task": "sentiment-ood", "train_examples": len(y), "test_examples": len(yt),
    "note": "sklearn >= 1.5 fits a binomial model for 2 classes; lpft-mpi's multinomial two-row head at C equals the binomial one at 2C",
    "chosen_C": float(probe.C_[0]),
    "test_accuracy": float((pred == yt).mean()),
    "test_predictions": pred.tolist(),
}, separators=(",", ":")))
