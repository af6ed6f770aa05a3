"""Tools to understand a trained network, model-only (jax, flax, numpy): no training dependencies.

- `hessian`: Hessian-vector products, top eigenvalues (Lanczos, power iteration), Hutchinson's trace, the
  eigenvalue density by stochastic Lanczos quadrature (Ghorbani et al. 2019; Yao et al. 2020, PyHessian), and
  `spectrum`, all three from one compiled product.
- `landscape`: loss surfaces along filter-normalised random directions and linear interpolations
  (Li et al. 2018), every grid evaluated by one compiled program.
- `features`: intermediate feature maps by module path, Grad-CAM, the high-frequency amplitude of feature maps
  (Park & Kim 2022).
- `projection`: an activation projected to the pixels by the deconvnet (Zeiler & Fergus 2014) or guided
  backpropagation (Springenberg et al. 2015).
- `attention`: BAM's attention maps (Park et al. 2018) and the attention weights per head of every
  MultiHeadAttention (ViT, Swin, the Transformers).
Plotting and run directories are in `train/analyze*.py`.
"""
from archs.analysis import attention, features, hessian, landscape, projection

__all__ = ["attention", "features", "hessian", "landscape", "projection"]
