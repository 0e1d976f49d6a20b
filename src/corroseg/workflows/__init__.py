"""The verbs: train (one run or K folds), evaluate, predict, demo. The only layer that combines train/ and infer/."""
