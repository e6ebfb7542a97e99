"""What a loaded model carries with it: the module, its preprocessing and class names."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from PIL import Image
from torch import nn


@dataclass
class ModelBundle:
    """A classifier ready for collection, plus everything needed to feed it images.

    ``preprocess`` maps a PIL RGB image to a normalised (3, H, W) float tensor; it is
    ``resize -> to_tensor ([0, 1]) -> normalize(mean, std)`` and must be picklable
    (DataLoader workers). Feature visualization optimises images in [0, 1] and calls
    ``normalize`` itself.
    """

    module: nn.Module
    input_size: tuple[int, int]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    class_names: list[str]
    spec: str
    weights: str | None = None
    hash: str = ""
    info: dict = field(default_factory=dict)

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) images in [0, 1] -> model input.

        Parameters
        ----------
        images : torch.Tensor, shape (B, 3, H, W)

        Returns
        -------
        torch.Tensor, shape (B, 3, H, W)
        """
        mean = torch.tensor(self.mean, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
        std = torch.tensor(self.std, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
        return (images - mean) / std

    def to_unit_tensor(self, image: Image.Image) -> torch.Tensor:
        """PIL image -> (3, H, W) float tensor in [0, 1] at the model's input size.

        Parameters
        ----------
        image : PIL.Image.Image

        Returns
        -------
        torch.Tensor, shape (3, H, W)
        """
        from torchvision.transforms.functional import pil_to_tensor, resize

        image = image.convert("RGB")
        if image.size != (self.input_size[1], self.input_size[0]):
            image = resize(image, list(self.input_size), antialias=True)
        return pil_to_tensor(image).float().div_(255.0)

    def preprocess(self, image: Image.Image) -> torch.Tensor:
        """PIL image -> normalised (3, H, W) model input.

        Parameters
        ----------
        image : PIL.Image.Image

        Returns
        -------
        torch.Tensor, shape (3, H, W)
        """
        return self.normalize(self.to_unit_tensor(image).unsqueeze(0))[0]
