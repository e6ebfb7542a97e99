"""The networks of DGN-AM's image prior: a spatial-code generator and a small discriminator.

:class:`SpatialCodeGenerator` maps a conv layer's full output (C, h, w) (flattened to a code
of length ``C * h * w``, so DGN-AM's code optimisation is the same as for reduced codes) to an
image: two convolutions at the code's resolution, then one nearest-upsampling + convolution
per doubling until the model's input size (channels halved at each doubling), a 3-channel
convolution and a sigmoid. A code that keeps the layer's positions carries far more of the
image than its global average (ResNet-20 ``layer3``: 64 x 8 x 8 = 4,096 numbers against 64),
which is what lets the generator learn an image prior rather than the mean image.

:class:`PatchDiscriminator` is the adversarial critic used only during training (never saved):
strided 4x4 convolutions with spectral normalisation down to a 4x4 map of real/fake logits.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

__all__ = ["SpatialCodeGenerator", "PatchDiscriminator", "up_block"]


def up_block(ch_in: int, ch_out: int) -> list[nn.Module]:
    """One generator stage: double the size (nearest), 3x3 conv, batch norm, leaky ReLU.

    Both generators (spatial codes here, reduced codes in :mod:`.generator`) are stacks of these;
    the list form keeps their ``nn.Sequential`` indices, hence saved state dicts, as they were.
    """
    return [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(ch_in, ch_out, 3, padding=1),
            nn.BatchNorm2d(ch_out), nn.LeakyReLU(0.2)]


class SpatialCodeGenerator(nn.Module):
    """Spatial code (B, C*h*w) -> images (B, 3, H, W) in [0, 1].

    Parameters
    ----------
    code_shape : (int, int, int)
        The layer's output shape (C, h, w).
    output_size : (int, int)
        Image size (H, W) of the model's input.
    width : int
        Channels at the code's resolution (halved at each doubling, at least 16).
    """

    def __init__(self, code_shape: tuple[int, int, int], output_size: tuple[int, int],
                 width: int = 64):
        super().__init__()
        self.code_shape = tuple(int(s) for s in code_shape)
        self.output_size, self.width = tuple(output_size), int(width)
        c, h, _ = self.code_shape
        self.code_dim = int(math.prod(self.code_shape))
        n_up = max(0, int(math.ceil(math.log2(max(1, min(self.output_size) / h)))))
        ch = self.width
        layers: list[nn.Module] = [nn.Conv2d(c, ch, 3, padding=1), nn.LeakyReLU(0.2),
                                   nn.Conv2d(ch, ch, 3, padding=1), nn.BatchNorm2d(ch),
                                   nn.LeakyReLU(0.2)]
        for _ in range(n_up):
            out = max(ch // 2, 16)
            layers += up_block(ch, out)
            ch = out
        self.body = nn.Sequential(*layers)
        self.out = nn.Conv2d(ch, 3, 3, padding=1)

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        """Images (B, 3, H, W) in [0, 1] from codes (B, C*h*w) or (B, C, h, w)."""
        x = code.reshape(len(code), *self.code_shape)
        img = torch.sigmoid(self.out(self.body(x)))
        if tuple(img.shape[-2:]) != self.output_size:
            img = F.interpolate(img, size=self.output_size, mode="bilinear", align_corners=False)
        return img


class PatchDiscriminator(nn.Module):
    """Images (B, 3, H, W) in [0, 1] -> real/fake logits (B, N) of image patches.

    Parameters
    ----------
    width : int
        Channels of the first convolution (doubled at each of the stride-2 stages).
    n_down : int
        Stride-2 stages (3 turns 32 px into a 4x4 map of patch logits).
    """

    def __init__(self, width: int = 32, n_down: int = 3):
        super().__init__()
        layers: list[nn.Module] = []
        ch = 3
        for i in range(n_down):
            out = width * 2 ** i
            layers += [spectral_norm(nn.Conv2d(ch, out, 4, stride=2, padding=1)), nn.LeakyReLU(0.2)]
            ch = out
        layers.append(spectral_norm(nn.Conv2d(ch, 1, 3, padding=1)))
        self.body = nn.Sequential(*layers)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Patch logits (B, N) of images in [0, 1]."""
        return self.body(images * 2 - 1).flatten(1)
