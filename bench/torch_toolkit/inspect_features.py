"""The PyTorch toolkit's ``inspect_features.py``, re-implemented for ``deno task bench``.

A small forward-hook toolkit as the original works: the model has a ``backbone`` attribute;
forward hooks on ``model.backbone.<layer>`` store ``output.detach().cpu().clone()`` for the target
(clip, frame); the backbone runs frame by frame, in the original's order (time outer, clip inner),
up to the target frame; the activations go to one pickle; statistics are printed; feature-map
grids of ``conv1`` and ``layer1``..``layer4`` (16 channels, 4 columns, a colorbar each, 150 dpi)
are written with matplotlib.

One run extracts one (clip, frame), as the original does: all frames of a batch take B x T runs.

    /usr/bin/python3 bench/torch_toolkit/inspect_features.py --checkpoint model.pth --dset clips \\
        --size 224 --batch_idx 0 --timestep 0 --save_dir out
"""

import argparse
import os
import pickle
import sys
import time
from collections import defaultdict

_T0 = time.perf_counter()
_PROFILE = os.environ.get("FEATURE_INSPECTOR_PROFILE") == "1"


def phase(name):
    """With FEATURE_INSPECTOR_PROFILE=1: print the time since start and the peak RSS so far."""
    if _PROFILE:
        import resource

        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        ms = 1000 * (time.perf_counter() - _T0)
        print(f"profile: {name} {ms:.0f} ms, rss {rss:.0f} MiB", file=sys.stderr)


import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402
from torch.utils.data import DataLoader, Dataset  # noqa: E402
from torchvision import transforms  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from video_model import VideoModel  # noqa: E402

phase("imports")

LAYERS = ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"]
MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


class ClipFolder(Dataset):
    """One sub-folder per clip, frames sorted by name: ``{"frames": (T, 3, size, size)}``."""

    def __init__(self, root, max_len, size):
        self.clips = sorted(
            os.path.join(root, d) for d in os.listdir(root) if os.path.isdir(os.path.join(root, d))
        )
        self.max_len = max_len
        self.tf = transforms.Compose(
            [transforms.Resize((size, size)), transforms.ToTensor(), transforms.Normalize(MEAN, STD)]
        )

    def __len__(self):
        return len(self.clips)

    def __getitem__(self, i):
        files = sorted(
            f for f in os.listdir(self.clips[i]) if f.lower().endswith((".jpg", ".jpeg", ".png"))
        )[: self.max_len]
        frames = [self.tf(Image.open(os.path.join(self.clips[i], f)).convert("RGB")) for f in files]
        return {"frames": torch.stack(frames), "clip": os.path.basename(self.clips[i])}


class FeatureMapInspector:
    """Forward hooks on the backbone's layers; keeps the target (clip, frame) only."""

    def __init__(self, model, save_dir):
        self.model = model
        self.save_dir = save_dir
        self.activations = defaultdict(list)
        self.hooks = []
        self.target_batch_idx = 0
        self.target_timestep = 0
        self.current = None
        os.makedirs(save_dir, exist_ok=True)
        for name in LAYERS:
            if hasattr(model.backbone, name):
                layer = getattr(model.backbone, name)
                self.hooks.append(layer.register_forward_hook(self._hook(name)))
                print(f"Registered hook on {name}")

    def _hook(self, name):
        def hook(module, inputs, output):
            if self.current == (self.target_batch_idx, self.target_timestep):
                # a clone: an in-place ReLU later in the network must not alter it
                self.activations[name].append(output.detach().cpu().clone())

        return hook

    def set_target(self, batch_idx, timestep):
        self.target_batch_idx, self.target_timestep = batch_idx, timestep
        print(f"Target set to batch[{batch_idx}], timestep[{timestep}]")

    def extract_features(self, batch):
        self.activations.clear()
        frames = batch["frames"]
        b_n, t_n = frames.shape[:2]
        print(f"Processing batch with shape: B={b_n}, T={t_n}")
        flat = frames.view(b_n * t_n, *frames.shape[2:])
        # frame by frame, time outer and clip inner, up to the target frame
        for t in range(t_n):
            for b in range(b_n):
                self.current = (b, t)
                with torch.no_grad():
                    self.model.backbone(flat[b * t_n + t : b * t_n + t + 1])
                if self.current == (self.target_batch_idx, self.target_timestep):
                    return self.activations
        return self.activations

    def save_features(self, batch_info, suffix):
        name = f"features_b{self.target_batch_idx}_t{self.target_timestep}_{suffix}.pkl"
        path = os.path.join(self.save_dir, name)
        with open(path, "wb") as f:
            pickle.dump(
                {
                    "activations": dict(self.activations),
                    "batch_idx": self.target_batch_idx,
                    "timestep": self.target_timestep,
                    "batch_info": batch_info,
                },
                f,
            )
        print(f"Features saved to {path}")
        for layer, acts in self.activations.items():
            print(f"  {layer}: {tuple(acts[0].shape)}")
        return path

    def feature_statistics(self):
        stats = {}
        for layer, acts in self.activations.items():
            a = acts[0]
            stats[layer] = {
                "shape": tuple(a.shape),
                "mean": a.mean().item(),
                "std": a.std().item(),
                "min": a.min().item(),
                "max": a.max().item(),
                "sparsity": (a == 0).float().mean().item(),
            }
        return stats

    def visualize_feature_maps(self, layer, num_channels=16):
        act = self.activations[layer][0].squeeze(0)
        n = min(num_channels, act.shape[0])
        channels = np.linspace(0, act.shape[0] - 1, n, dtype=int)
        cols = 4
        rows = (n + cols - 1) // cols
        fig, axes = plt.subplots(rows, cols, figsize=(15, rows * 3))
        axes = np.atleast_1d(axes).flatten()
        for i, c in enumerate(channels):
            im = axes[i].imshow(act[c].numpy(), cmap="viridis")
            axes[i].set_title(f"Channel {c}")
            axes[i].axis("off")
            plt.colorbar(im, ax=axes[i])
        for i in range(n, len(axes)):
            axes[i].axis("off")
        plt.tight_layout()
        plt.suptitle(f"Feature Maps - {layer} (B{self.target_batch_idx}, T{self.target_timestep})")
        path = os.path.join(
            self.save_dir, f"{layer}_b{self.target_batch_idx}_t{self.target_timestep}.png"
        )
        plt.savefig(path, dpi=150, bbox_inches="tight")
        plt.close(fig)
        print(f"Plot saved to {path}")

    def cleanup(self):
        for h in self.hooks:
            h.remove()
        self.hooks.clear()
        self.activations.clear()


def main():
    p = argparse.ArgumentParser(description="extract backbone feature maps (PyTorch toolkit)")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--dset", required=True)
    p.add_argument("--batch_size", type=int, default=2)
    p.add_argument("--max_len", type=int, default=8)
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--save_dir", default="feature_maps")
    p.add_argument("--batch_idx", type=int, default=0)
    p.add_argument("--timestep", type=int, default=0)
    p.add_argument("--dense_gaze", action="store_true")
    args = p.parse_args()

    model = VideoModel()
    model.load_state_dict(torch.load(args.checkpoint, map_location="cpu"))
    model.eval()
    phase("model")
    loader = DataLoader(
        ClipFolder(args.dset, args.max_len, args.size),
        batch_size=args.batch_size,
        shuffle=False,
        num_workers=args.workers,
    )
    batch = next(iter(loader))
    phase("data")
    inspector = FeatureMapInspector(model, args.save_dir)
    try:
        inspector.set_target(args.batch_idx, args.timestep)
        inspector.extract_features(batch)
        phase("forward")
        info = {"clip": batch["clip"][args.batch_idx], "frame": args.timestep}
        inspector.save_features(info, f"{os.path.basename(os.path.normpath(args.dset))}_{args.size}")
        phase("pickle")
        for layer, s in inspector.feature_statistics().items():
            print(f"{layer}: shape {s['shape']} mean {s['mean']:.4f} std {s['std']:.4f} "
                  f"sparsity {s['sparsity']:.2%}")
        phase("stats")
        for layer in ["conv1", "layer1", "layer2", "layer3", "layer4"]:
            if layer in inspector.activations:
                inspector.visualize_feature_maps(layer, num_channels=16)
        phase("png")
    finally:
        inspector.cleanup()


if __name__ == "__main__":
    main()
