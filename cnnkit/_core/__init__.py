"""Pure NumPy kernels (no autograd): the N-d window core and the convolution pair."""
