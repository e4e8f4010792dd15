"""Calibrators on the logit of the confidence: ``temperature`` and ``platt``.

Both read a confidence ``c`` as a probability, take ``z = logit(c)`` (``c`` clipped to
[1e-6, 1 - 1e-6] first, so 0 and 1 are finite) and fit by the binary negative
log-likelihood of the training answers, with NumPy only:

- ``temperature``: ``sigmoid(z / T)``, one ``T`` in [e^-5, e^5]. The NLL is convex in
  ``1/T``, so its derivative is bisected on ``log T``: exact to ~1e-12, never diverging.
  Confidences that rank wrong answers above right ones drive ``T`` to the upper bound
  (every answer near 0.5).
- ``platt``: ``sigmoid(a·z + b)``, unregularised logistic regression on ``z`` (Newton with
  a backtracking line search). The slope is kept at ``a >= 0``: a map that reverses the
  ranking is not a calibration, so where the unconstrained fit has ``a < 0`` the fit is the
  constrained optimum ``a = 0``, ``b = logit(accuracy)``. On separable answers the
  likelihood has no finite optimum; the fit stops after ``MAX_ITER`` steps, steep.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.errors import InputError
from harness.plugins.calibrators.common import fit_data, not_fitted, state_number

EPS = 1e-6
LOG_T_BOUND = 5.0
MAX_ITER = 100


def logit(confidence: np.ndarray) -> np.ndarray:
    """``log(c / (1 - c))`` of ``c`` clipped to [EPS, 1 - EPS] (non-decreasing in ``c``)."""
    c = np.clip(np.asarray(confidence, dtype=np.float64), EPS, 1.0 - EPS)
    return np.log(c) - np.log1p(-c)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """``1 / (1 + e^-x)``, in [0, 1] and non-decreasing for every float ``x``."""
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


def nll(scores: np.ndarray, correct: np.ndarray) -> float:
    """Binary negative log-likelihood of ``sigmoid(scores)`` (summed), computed stably."""
    return float(np.sum(np.logaddexp(0.0, scores) - correct * scores))


class TemperatureCalibrator:
    """``sigmoid(logit(c) / T)``: temperature scaling of the confidence's logit (no parameters)."""

    name = "temperature"

    def __init__(self) -> None:
        self.temperature: float | None = None

    def fit(self, confidence: np.ndarray, correct: np.ndarray) -> None:
        conf, hit = fit_data(self.name, confidence, correct)
        z, y = logit(conf), hit.astype(np.float64)
        if not np.any(z):  # every confidence is 0.5: any temperature fits as well
            self.temperature = 1.0
            return

        def slope(log_t: float) -> float:  # d NLL / d(1/T): increasing in 1/T, decreasing in log T
            return float(np.dot(z, sigmoid(z * np.exp(-log_t)) - y))

        low, high = -LOG_T_BOUND, LOG_T_BOUND  # log T
        if slope(high) >= 0:
            self.temperature = float(np.exp(high))
            return
        if slope(low) <= 0:
            self.temperature = float(np.exp(low))
            return
        while high - low > 1e-12:
            middle = (low + high) / 2
            if slope(middle) > 0:
                low = middle
            else:
                high = middle
        self.temperature = float(np.exp((low + high) / 2))

    def __call__(self, confidence: np.ndarray) -> np.ndarray:
        if self.temperature is None:
            raise not_fitted(self.name)
        return sigmoid(logit(confidence) / self.temperature)

    def fitted(self) -> dict[str, Any]:
        return {"temperature": self.temperature}

    def restore(self, state: dict[str, Any]) -> None:
        """Load what ``fitted()`` saved: the temperature (> 0)."""
        temperature = state_number(self.name, state, "temperature")
        if temperature <= 0:
            raise InputError(f"calibrator 'temperature': the saved temperature {temperature} is not > 0")
        self.temperature = temperature


class PlattCalibrator:
    """``sigmoid(a·logit(c) + b)``: Platt scaling, with ``a >= 0`` (no parameters)."""

    name = "platt"

    def __init__(self) -> None:
        self.slope: float | None = None
        self.intercept: float | None = None

    def fit(self, confidence: np.ndarray, correct: np.ndarray) -> None:
        conf, hit = fit_data(self.name, confidence, correct)
        z, y = logit(conf), hit.astype(np.float64)
        features = np.column_stack([z, np.ones_like(z)])
        rate = float(np.mean(y))
        theta = np.array([0.0, np.log(rate) - np.log1p(-rate)])  # the constant map at the accuracy
        loss = nll(features @ theta, y)
        for _ in range(MAX_ITER):
            p = sigmoid(features @ theta)
            gradient = features.T @ (p - y)
            weights = p * (1.0 - p)
            hessian = (features * weights[:, None]).T @ features
            hessian += 1e-12 * (np.trace(hessian) + 1.0) * np.eye(2)  # numerical safety only
            step = -np.linalg.solve(hessian, gradient)
            t, decrease = 1.0, float(gradient @ step)
            while True:  # backtracking (Armijo) line search
                candidate = theta + t * step
                new_loss = nll(features @ candidate, y)
                if new_loss <= loss + 1e-4 * t * decrease or t < 1e-10:
                    break
                t /= 2
            if new_loss > loss:  # no step decreases the loss any more: converged
                break
            converged = np.max(np.abs(candidate - theta)) < 1e-12 * (1.0 + np.max(np.abs(theta)))
            theta, loss = candidate, new_loss
            if converged or np.max(np.abs(gradient)) < 1e-12 * len(y):
                break
        if theta[0] < 0:  # the best non-decreasing map: the constant at the accuracy
            theta = np.array([0.0, np.log(rate) - np.log1p(-rate)])
        self.slope, self.intercept = float(theta[0]), float(theta[1])

    def __call__(self, confidence: np.ndarray) -> np.ndarray:
        if self.slope is None or self.intercept is None:
            raise not_fitted(self.name)
        return sigmoid(self.slope * logit(confidence) + self.intercept)

    def fitted(self) -> dict[str, Any]:
        return {"slope": self.slope, "intercept": self.intercept}

    def restore(self, state: dict[str, Any]) -> None:
        """Load what ``fitted()`` saved: the slope (>= 0) and the intercept."""
        slope = state_number(self.name, state, "slope")
        if slope < 0:
            raise InputError(f"calibrator 'platt': the saved slope {slope} is negative")
        self.slope, self.intercept = slope, state_number(self.name, state, "intercept")
