"""The verbs: train (one run or K folds), evaluate, predict (one well or a fleet on Dask), report, demo.

The only layer that combines train/ and infer/."""
