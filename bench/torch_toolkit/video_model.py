"""The video model both toolkits measure: torchvision ResNet-18 as ``model.backbone``, applied per
frame (time folded into batch), temporal mean, linear head. Shared by ``make_model.py`` (which
saves its state dict and exports it with ``torch.onnx.export``) and the PyTorch toolkit
(``inspect.py``), so that both sides run the same weights."""

import torch
import torch.nn as nn
import torchvision


class VideoModel(nn.Module):
    """Frames ``(B, T, 3, H, W)`` -> logits ``(B, num_classes)``."""

    def __init__(self, num_classes=10):
        super().__init__()
        self.backbone = torchvision.models.resnet18()
        self.backbone.fc = nn.Identity()
        self.head = nn.Linear(512, num_classes)

    def forward(self, frames):
        b, t = frames.shape[:2]
        f = self.backbone(frames.flatten(0, 1))
        return self.head(f.view(b, t, -1).mean(1))
