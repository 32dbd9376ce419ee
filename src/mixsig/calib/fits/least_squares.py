"""Levenberg-Marquardt nonlinear least squares with the covariance of the fitted parameters.

Used by the gamma transfer curve (`mixsig.calib.fits.transfer`) and the misregistration fit
(`mixsig.calib.fits.misregistration`). The covariance is ``σ̂²·(JᵀJ)⁻¹`` with σ̂² the residual
variance (independent residuals assumed).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np


def _least_squares(
    residual: Callable[[np.ndarray], np.ndarray],
    p0: Sequence[float],
    *,
    jacobian: Callable[[np.ndarray], np.ndarray] | None = None,
    steps: Sequence[float] | None = None,
    max_iter: int = 200,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Levenberg-Marquardt; returns ``(p, residuals, covariance)`` (covariance σ̂²(JᵀJ)⁻¹)."""
    p = np.asarray(p0, dtype=np.float64).copy()
    h = np.asarray(steps if steps is not None else 1e-6 * np.maximum(1.0, np.abs(p)))

    def jac(q: np.ndarray) -> np.ndarray:
        if jacobian is not None:
            return jacobian(q)
        cols = []
        for i in range(q.size):
            dq = np.zeros_like(q)
            dq[i] = h[i]
            cols.append((residual(q + dq) - residual(q - dq)) / (2 * h[i]))
        return np.stack(cols, axis=1)

    r = residual(p)
    cost = float(r @ r)
    lam = 1e-3
    for _ in range(max_iter):
        J = jac(p)
        A = J.T @ J
        g = J.T @ r
        improved = False
        while lam < 1e12:
            try:
                delta = np.linalg.solve(A + lam * np.diag(np.diag(A) + 1e-300), -g)
            except np.linalg.LinAlgError:
                lam *= 10
                continue
            r_new = residual(p + delta)
            c_new = float(r_new @ r_new)
            if np.isfinite(c_new) and c_new <= cost:
                small = cost - c_new <= 1e-15 * max(cost, 1e-300)
                p, r, cost = p + delta, r_new, c_new
                lam = max(lam / 10, 1e-12)
                improved = not small
                break
            lam *= 10
        if not improved:
            break
    J = jac(p)
    dof = max(r.size - p.size, 1)
    s2 = cost / dof
    cov = s2 * np.linalg.pinv(J.T @ J)
    return p, r, cov
