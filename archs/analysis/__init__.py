"""Tools to understand a trained network, model-only (jax, flax, numpy): no training dependencies.

- `hessian`: Hessian-vector products, top eigenvalues (Lanczos, power iteration), Hutchinson's trace, the
  eigenvalue density by stochastic Lanczos quadrature (Ghorbani et al. 2019; Yao et al. 2020, PyHessian).
- `landscape`: loss surfaces along filter-normalised random directions and linear interpolations
  (Li et al. 2018), every grid evaluated by one compiled program.
- `features`: intermediate feature maps by module path, Grad-CAM, the high-frequency amplitude of feature maps
  (Park & Kim 2022).
Plotting and run directories are in `train/analyze.py`.
"""
from archs.analysis import features, hessian, landscape

__all__ = ["features", "hessian", "landscape"]
