"""``python3 make_model.py OUT_DIR [SIZE]``: the bench's model, made once per bench run.

Writes ``OUT_DIR/model.pth`` (the state dict, what the PyTorch toolkit loads) and
``OUT_DIR/model.onnx`` (the same weights through ``torch.onnx.export``, opset 17, eval mode,
dynamic batch and time, what ``deno task inspect`` loads). Weights: torchvision's default
initialisation with seed 0, then BatchNorm running statistics from a few batches of noise, so
that activations have realistic scales (the checks and figures do not depend on training)."""

import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from video_model import VideoModel  # noqa: E402


def main():
    out = sys.argv[1]
    size = int(sys.argv[2]) if len(sys.argv) > 2 else 224
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    model = VideoModel()
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(2, 2, 3, size, size))
    model.eval()
    torch.save(model.state_dict(), os.path.join(out, "model.pth"))
    torch.onnx.export(
        model,
        torch.randn(1, 8, 3, size, size),
        os.path.join(out, "model.onnx"),
        input_names=["frames"],
        output_names=["logits"],
        opset_version=17,
        dynamic_axes={"frames": {0: "batch", 1: "time"}},
    )
    print(os.path.join(out, "model.onnx"))


if __name__ == "__main__":
    main()
