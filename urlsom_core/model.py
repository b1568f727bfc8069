"""URL-SOM network (paper Sec. III and V.B, Fig. 1): a CIFAR-style ResNet with ELU, and the SOM head.

Head: ``Linear(features -> H*W)`` reshaped to a 1-channel H x W map, a FIXED radial convolution
('same' size; what lies beyond the map's edge is ``ModelConfig.boundary``, zero padding by default),
flattened, Softmax over the n = H*W neurons. No non-linearity between the
Linear and the convolution. The kernel is a buffer, never a parameter.

Example:
    >>> from urlsom_core.config import ModelConfig
    >>> net = URLSOM(ModelConfig(grid=(10, 10), widths=(8, 16, 32), blocks=1), in_channels=1)
    >>> net(torch.zeros(4, 1, 16, 16)).shape
    torch.Size([4, 100])
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import BOUNDARIES, ModelConfig, is_circular, max_kernel_size
from .filters import crop_kernel, gaussian_kernel, gaussian_support, lattice_kernel, student_t_kernel


class _ExpELU(torch.autograd.Function):
    """ELU (alpha 1) of a CPU tensor from ``exp`` rather than ``expm1``, with torch's own ELU gradient.

    .. math:: \\mathrm{ELU}(x) = \\max(x, 0) + \\exp(\\min(x, 0)) - 1

    torch's CPU ``elu`` goes through ``expm1``, which ran about 10x slower than ``exp`` on a 2-core AMD EPYC
    (torch 2.14.1): the forward ELUs were a third of the ``cpu`` rule's bf16 training step (torch's profiler).
    In the input's dtype: in float32 the two agree to 5e-8; in bf16 (autocast) to 0.003 (F.elu's own rounding
    error is 0.002), the exp being rounded near 1 before the 1 is taken off, so a small negative input comes out
    as 0 or -2^-8 rather than as itself; computing it in float32 and rounding once cost 2.5x the time. Whether
    the maps stay the same is measured by ``bench/speed_modes.py``."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        y = x.clamp(max=0).exp_().sub_(1).add_(x.clamp(min=0))
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        (y,) = ctx.saved_tensors
        return torch.ops.aten.elu_backward(grad, 1.0, 1, 1, True, y)  # from the output, as F.elu's own


def elu(x: torch.Tensor) -> torch.Tensor:
    """ELU (alpha 1): :class:`_ExpELU` on a CPU, ``F.elu`` elsewhere."""
    return _ExpELU.apply(x) if x.device.type == "cpu" else F.elu(x)


class ELU(nn.Module):
    """:func:`elu` as a module (no parameters: a state dict is that of ``nn.ELU``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return elu(x)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm, ELU instead of ReLU, projection shortcut on shape change."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = elu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return elu(out + self.shortcut(x))


class ResNet(nn.Module):
    """CIFAR ResNet (He et al. 2016): a 3x3 stem, len(widths) stages of ``blocks`` basic blocks
    (stride 1, then 2), global average pooling. widths=(16, 48, 256), blocks=3 is the paper's ResNet-20."""

    def __init__(self, in_channels: int, widths: tuple[int, ...], blocks: int) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False), nn.BatchNorm2d(widths[0]), ELU())
        layers: list[nn.Module] = []
        cin = widths[0]
        for i, w in enumerate(widths):
            for b in range(blocks):
                layers.append(BasicBlock(cin, w, 2 if (i > 0 and b == 0) else 1))
                cin = w
        self.layers = nn.Sequential(*layers)
        self.out_features = cin

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layers(self.stem(x))  # (N, C, h, w)
        return x.mean(dim=(2, 3))  # (N, C)


def build_kernel(cfg: ModelConfig) -> torch.Tensor:
    """The fixed kernel of ``cfg``, normalised over its full support, then cropped to the useful size."""
    kmax = max_kernel_size(cfg.grid)
    if cfg.filter == "gaussian":
        k = gaussian_kernel(cfg.sigma, norm=cfg.kernel_norm, gain=cfg.kernel_gain, extent=cfg.gaussian_extent)
    else:
        k = student_t_kernel(cfg.student_scale, cfg.kernel_size or kmax, norm=cfg.kernel_norm, gain=cfg.kernel_gain)
    return crop_kernel(k, cfg.kernel_size or kmax)


def _edge_index(size: int, pad: int, mode: str) -> torch.Tensor:
    """Source index of every position -pad .. size+pad-1 of a padded axis: wrapped (circular) or mirrored
    about the edge neurons (reflect: ..., 2, 1, 0, 1, 2, ...), for any pad, even one larger than the axis."""
    i = torch.arange(-pad, size + pad)
    if is_circular(mode):
        return i % size
    if size == 1:
        return torch.zeros_like(i)
    period = 2 * (size - 1)
    i = i % period
    return torch.where(i < size, i, period - i)


def fixed_convolution(y: torch.Tensor, kernel: torch.Tensor, boundary: str = "zeros") -> torch.Tensor:
    """'Same' convolution of maps ``y`` (N, 1, H, W) with the fixed odd kernel (1, 1, k, k).

    ``boundary`` is what the kernel sees beyond the map: ``zeros`` (zero padding), ``circular`` (the map
    is a torus: a shift of ``y`` shifts the output), ``reflect`` (mirrored about the edge neurons) or
    ``mass`` (zero padding, each output divided by the share of the kernel's mass inside the map, so
    a constant field stays constant). Returns (N, 1, H, W)."""
    r = kernel.shape[-1] // 2
    if boundary == "zeros":
        return F.conv2d(y, kernel, padding=r)
    if boundary == "mass":
        ones = torch.ones((1, 1) + tuple(y.shape[-2:]), dtype=y.dtype, device=y.device)
        inside = F.conv2d(ones, kernel, padding=r)  # (1, 1, H, W): kernel mass inside the map
        return F.conv2d(y, kernel, padding=r) * (kernel.sum() / inside)
    if boundary in ("circular", "reflect"):
        H, W = y.shape[-2:]
        rows = _edge_index(H, r, boundary).to(y.device)
        cols = _edge_index(W, r, boundary).to(y.device)
        return F.conv2d(y[:, :, rows][:, :, :, cols], kernel)
    raise ValueError(f"boundary {boundary!r}: allowed is one of {', '.join(BOUNDARIES)}")


DENSE_MAX_NEURONS = 4096  # up to 64x64 the fixed convolution is one (n, n) matrix product


def convolution_matrix(kernel: torch.Tensor, grid: tuple[int, int], boundary: str = "zeros") -> torch.Tensor:
    """The fixed convolution as a matrix: row j is the response of the map to a unit at neuron j.

    ``fixed_convolution(y, kernel, boundary).flatten(1) == y.flatten(1) @ convolution_matrix(...)`` up to
    rounding. Built by scattering the kernel's k*k weights of every output neuron onto their source neurons
    (n * k^2 entries, no convolution of n basis maps). Returns a float32 (n, n) tensor, n = H*W."""
    if boundary not in BOUNDARIES:
        raise ValueError(f"boundary {boundary!r}: allowed is one of {', '.join(BOUNDARIES)}")
    H, W = grid
    k = kernel.reshape(kernel.shape[-2:]).to(torch.float64)  # (ks, ks)
    r = k.shape[-1] // 2
    d = torch.arange(-r, r + 1)
    rows = torch.arange(H)[:, None] + d[None, :]  # (H, ks): source row of output row i at offset d
    cols = torch.arange(W)[:, None] + d[None, :]  # (W, ks)
    if boundary in ("circular", "reflect"):
        rows = _edge_index(H, r, boundary)[rows + r]
        cols = _edge_index(W, r, boundary)[cols + r]
        ok = torch.ones(H, W, len(d), len(d), dtype=torch.bool)
    else:
        ok = ((rows >= 0) & (rows < H))[:, None, :, None] & ((cols >= 0) & (cols < W))[None, :, None, :]
    src = rows.clamp(0, H - 1)[:, None, :, None] * W + cols.clamp(0, W - 1)[None, :, None, :]  # (H, W, ks, ks)
    out = torch.arange(H * W).view(H, W, 1, 1).expand_as(src)
    weight = k.expand(H, W, -1, -1)
    m = torch.zeros(H * W, H * W, dtype=torch.float64)
    m.index_put_((src[ok], out[ok]), weight[ok], accumulate=True)  # m[source j, output i] += K[d]
    if boundary == "mass":
        m = m * (k.sum() / m.sum(0, keepdim=True))  # each output's kernel renormalised to its part inside
    return m.to(torch.float32)


def softmax(logits: torch.Tensor) -> torch.Tensor:
    """The Softmax over the neurons (Sec. IV.A) of convolved maps ``logits`` (N, n), in float32 also inside
    an autocast region. Returns (N, n)."""
    with torch.autocast(logits.device.type, enabled=False):
        return torch.softmax(logits.float(), dim=1)


def hex_convolution_matrix(cfg: ModelConfig, sigma: float | None = None) -> torch.Tensor:
    """The fixed convolution of a hexagonal map (``model.lattice: hex``) as a matrix: row j is the response of
    the map to a unit at neuron j, as :func:`convolution_matrix` is for the square lattice.

    .. math:: M_{ji} = g \\, f(d_{ij}^2) / Z \\quad \\text{for } |\\Delta y_{ij}|, |\\Delta x_{ij}| \\le h,

    with ``d_ij`` the Euclidean distance between the centres of cells i and j (:mod:`urlsom_core.lattice`: odd
    rows shifted by half a cell, rows sqrt(3)/2 apart), ``f`` the filter's radial function
    (:func:`urlsom_core.filters.radial`: Gaussian of ``sigma``, default ``cfg.sigma``, or t-student), ``g`` the
    gain and ``Z`` the amplitude of ``cfg.kernel_norm`` (:func:`urlsom_core.filters.lattice_kernel`: the sum over
    the kernel's support, the peak, or the peak's excess over the 6 neighbours at distance 1). The support is
    the box of the plane that the square kernel of the same config covers: half side ``h`` = 3 or 6 sigma of
    ``cfg.sigma`` rounded up (``gaussian_extent``; an anneal to a smaller sigma keeps it, as the square kernel
    does), cropped to ``cfg.kernel_size``; for the t-student filter ``kernel_size`` or the whole map.

    Boundaries: ``zeros`` (cells beyond the map are not there), ``circular`` (a hexagonal torus; ``d_ij`` to the
    nearest periodic image, so a cell counts once even when the kernel is wider than the map, where the square
    torus adds up every image) and ``mass`` (each output divided by the share of the kernel inside the map).
    ``reflect`` is refused by the config. Returns a float32 (n, n) tensor, n = H*W.
    """
    from .lattice import kernel_offsets, offsets

    if cfg.lattice != "hex":
        raise ValueError(f"lattice {cfg.lattice!r}: hex_convolution_matrix is for lattice hex")
    H, W = cfg.grid
    if cfg.filter == "gaussian":
        h = float(gaussian_support(cfg.sigma, cfg.gaussian_extent) // 2)
        crop = min(h, cfg.kernel_size // 2) if cfg.kernel_size else h
    else:
        h = crop = float(cfg.kernel_size // 2 if cfg.kernel_size else max(H, W))  # the map's widest offset is W - 1/2
    j = torch.arange(H * W).numpy()
    off = torch.from_numpy(offsets(j[:, None], j[None, :], cfg.grid, "hex", cfg.circular))  # (n, n, 2) (y, x)
    inside = (off.abs() <= crop + 1e-9).all(-1)  # (n, n)
    support = torch.from_numpy(kernel_offsets(h, "hex"))  # (m, 2): what the amplitude is taken over
    kw = {"filter": cfg.filter, "sigma": cfg.sigma if sigma is None else sigma, "scale": cfg.student_scale,
          "norm": cfg.kernel_norm, "gain": cfg.kernel_gain}
    m = lattice_kernel(off.square().sum(-1), support.square().sum(-1), **kw) * inside  # (n, n) float64, symmetric
    if cfg.boundary == "mass":
        kept = support[(support.abs() <= crop + 1e-9).all(-1)]  # the cropped kernel on the unbounded lattice
        m = m * (lattice_kernel(kept.square().sum(-1), support.square().sum(-1), **kw).sum() / m.sum(0, keepdim=True))
    return m.to(torch.float32)


def head_operator(cfg: ModelConfig, kernel: torch.Tensor, sigma: float | None = None) -> torch.Tensor:
    """The dense operator of the head (n, n) float32: :func:`convolution_matrix` of ``kernel`` on the square
    lattice, :func:`hex_convolution_matrix` of ``sigma`` (default ``cfg.sigma``) on the hexagonal one."""
    if cfg.lattice == "hex":
        return hex_convolution_matrix(cfg, sigma)
    return convolution_matrix(kernel, cfg.grid, cfg.boundary)


class SOMHead(nn.Module):
    """Linear projection to the grid, fixed radial convolution, Softmax (Sec. III, Eq. 1, Fig. 1; Softmax of
    Sec. IV.A): the paper's head and nothing else. Readouts fitted after training (a usage bias, prototypes) are
    applied outside it (:mod:`urlsom_core.readouts`), and a checkpoint of the head holds none of their state.

    The convolution is linear and fixed, so on maps of at most ``DENSE_MAX_NEURONS`` neurons it runs as one
    matrix product with :func:`convolution_matrix` (a non-persistent buffer, rebuilt from the kernel):
    with a 31x31 kernel on a 30x30 map a whole training step ran about 3x faster than with ``conv2d`` on
    one CPU thread (a shared machine).

    The head always computes in float32, also inside a bf16 autocast region (the backbone may run in bf16):
    its input is cast to float32 and autocast is off for the projection, the convolution and the Softmax.
    Winners are argmaxes over a smooth field (the convolved map); bf16 keeps 8 bits of mantissa, so near a
    flat peak it ties or swaps neighbouring neurons and biases winners towards the lower index."""

    def __init__(self, in_features: int, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.grid = cfg.grid
        self.boundary = cfg.boundary
        self.dropout = nn.Dropout(cfg.dropout) if cfg.dropout > 0 else nn.Identity()
        self.proj = nn.Linear(in_features, cfg.n_neurons)
        self.register_buffer("kernel", build_kernel(cfg)[None, None])  # (1, 1, k, k), not trained
        dense = cfg.n_neurons <= DENSE_MAX_NEURONS
        op = head_operator(cfg, self.kernel) if dense else torch.empty(0)
        self.register_buffer("operator", op, persistent=False)  # (n, n) or empty: conv2d instead
        if cfg.lattice == "hex":  # the hexagonal operator is rebuilt from sigma, not from the square kernel
            self.register_buffer("hex_sigma", torch.tensor(float(cfg.sigma), dtype=torch.float64))
        if cfg.sigma_end is not None:  # a saved kernel may be of another sigma than the config's (0.1 s a rebuild)
            self.register_load_state_dict_post_hook(lambda module, keys: module._rebuild_operator())

    def set_sigma(self, sigma: float) -> None:
        """Replace the Gaussian kernel by one of ``sigma`` on the same support (``ModelConfig.sigma_end``:
        the anneal). The kernel is a persistent buffer, so a checkpoint holds the one in use."""
        c = self.cfg
        k = gaussian_kernel(sigma, size=self.kernel.shape[-1], norm=c.kernel_norm, gain=c.kernel_gain,
                            extent=c.gaussian_extent)
        with torch.no_grad():
            self.kernel.copy_(k.to(self.kernel)[None, None])
            if c.lattice == "hex":
                self.hex_sigma.fill_(float(sigma))
        self._rebuild_operator()

    def _rebuild_operator(self) -> None:
        """The dense operator from the kernel in use (after :meth:`set_sigma` or loading a state dict), written
        in place: DDP and ``torch.compile`` keep holding the same tensor."""
        if self.operator.numel():
            with torch.no_grad():
                sigma = float(self.hex_sigma) if self.cfg.lattice == "hex" else None
                self.operator.copy_(head_operator(self.cfg, self.kernel.detach().cpu(), sigma))

    def logits(self, h: torch.Tensor, noise_std: float = 0.0) -> torch.Tensor:
        """The convolved map (N, n) in float32, whatever autocast region ``h`` comes from."""
        with torch.autocast(h.device.type, enabled=False):
            y = self.proj(self.dropout(h.float()))  # (N, n)
            if noise_std > 0:
                y = y + noise_std * torch.randn_like(y)
            if self.operator.numel():
                m = y @ self.operator  # (N, n): the 'same' convolution as one float32 product
            else:
                H, W = self.grid
                m = fixed_convolution(y.view(-1, 1, H, W), self.kernel.float(), self.boundary).flatten(1)  # (N, n)
            return m

    def forward(self, h: torch.Tensor, noise_std: float = 0.0) -> torch.Tensor:
        return softmax(self.logits(h, noise_std))


class URLSOM(nn.Module):
    """Backbone + SOM head. ``forward`` returns the Softmax map (N, H*W); ``embed`` the backbone features."""

    def __init__(self, cfg: ModelConfig, in_channels: int = 3) -> None:
        super().__init__()
        self.cfg = cfg
        self.backbone = ResNet(in_channels, cfg.widths, cfg.blocks)
        self.head = SOMHead(self.backbone.out_features, cfg)

    def forward(self, x: torch.Tensor, noise_std: float = 0.0) -> torch.Tensor:
        return self.head(self.backbone(x), noise_std)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x)


def count_parameters(model: nn.Module) -> dict[str, int]:
    """Trainable parameters: total and the projection's (paper: 3.4 M and 0.23 M)."""
    total = sum(p.numel() for p in model.parameters() if p.requires_grad)
    proj = sum(p.numel() for p in model.head.proj.parameters()) if hasattr(model, "head") else 0
    return {"total": total, "projection": proj}
