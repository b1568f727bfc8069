"""The per-sample ``torchvision.transforms.v2`` equivalent of :class:`~urlsom_core.augment.Augment`: the
'before' of the batched augmentation, for ``urlsom bench`` and for whole trainings with
``URLSOM_AUGMENT=per-sample`` (its random draws come from torch's global RNG and differ from the default).
torchvision is imported only when a pipeline is built.
"""

from __future__ import annotations

from typing import Any

import torch

from .augment import Augment


def torchvision_pipeline(aug: Augment, channels: int) -> Any:
    """The per-sample ``torchvision.transforms.v2`` equivalent of ``aug`` for uint8 (C, S, S) tensors."""
    from torchvision.transforms import v2

    steps: list[Any] = [
        v2.RandomResizedCrop(aug.out_size, scale=(aug.crop_min**2, 1.0), ratio=(1.0, 1.0), antialias=True),
    ]
    if aug.flip:
        steps.append(v2.RandomHorizontalFlip(0.5))
    if aug.rotate > 0:
        steps.append(v2.RandomRotation(aug.rotate))
    j = aug.jitter
    if channels == 3:
        steps.append(v2.RandomApply([v2.ColorJitter(j, j, j, aug.hue)], p=aug.jitter_p))
        steps.append(v2.RandomGrayscale(aug.gray_p))
    else:
        steps.append(v2.RandomApply([v2.ColorJitter(j, j)], p=aug.jitter_p))
    steps += [v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(aug.mean), list(aug.std))]
    return v2.Compose(steps)


class PerSampleDataset(torch.utils.data.Dataset):
    """uint8 images (N, C, S, S) through a per-sample pipeline: what a DataLoader-based trainer does."""

    def __init__(self, images: torch.Tensor, pipeline: Any) -> None:
        self.images = images
        self.pipeline = pipeline

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.pipeline(self.images[i])


class PerSampleViews:
    """Two views of a batch (B, C, S, S) uint8 -> (2B, C, out, out) float, one image at a time with
    torchvision. Uses torch's global RNG; the generator argument is accepted and ignored."""

    def __init__(self, aug: Augment) -> None:
        self.aug = aug
        self.pipelines: dict[int, Any] = {}

    def __call__(self, x: torch.Tensor, g: torch.Generator | None = None, offset: int = 0,
                 total: int | None = None) -> torch.Tensor:
        c = int(x.shape[1])
        pipe = self.pipelines.get(c) or self.pipelines.setdefault(c, torchvision_pipeline(self.aug, c))
        xc = x.cpu()
        views = [torch.stack([pipe(img) for img in xc]) for _ in range(2)]
        return torch.cat(views).to(x.device)
