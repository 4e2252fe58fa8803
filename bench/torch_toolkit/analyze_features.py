"""The PyTorch toolkit's ``analyze_features.py``, re-implemented for ``deno task bench``.

Loads one pickle written by ``inspect_features.py`` and writes, per layer, with matplotlib and
seaborn: ``<layer>_distribution.png`` (histogram, box plot, cumulative distribution),
``<layer>_channel_stats.png`` (per-channel mean, std, max, sparsity), ``<layer>_spatial_patterns.png``
(mean, max and std over channels, and the 6 channels with the highest mean), and
``layer_comparison.png`` (every layer side by side): 25 PNGs for the 8 default layers. It prints
the statistics and the health checks of the original guide's table.

    /usr/bin/python3 bench/torch_toolkit/analyze_features.py out/features_b0_t0_clips_224.pkl \\
        --save_dir feature_analysis
"""

import argparse
import os
import pickle
import sys
import time

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
import seaborn as sns  # noqa: E402
import torch  # noqa: E402,F401  (the pickle holds torch tensors)

phase("imports")


def plot_distribution(name, a, save_dir):
    flat = a.flatten()
    fig, axes = plt.subplots(1, 3, figsize=(18, 5))
    sns.histplot(flat, bins=50, ax=axes[0], color="steelblue")
    axes[0].axvline(flat.mean(), color="red", linestyle="--", label=f"mean {flat.mean():.3f}")
    axes[0].set_title(f"{name}: activation histogram")
    axes[0].set_xlabel("activation")
    axes[0].legend()
    axes[1].boxplot(flat, vert=True)
    axes[1].set_title(f"{name}: box plot")
    s = np.sort(flat)
    axes[2].plot(s, np.arange(1, len(s) + 1) / len(s))
    axes[2].set_title(f"{name}: cumulative distribution")
    axes[2].set_xlabel("activation")
    axes[2].set_ylabel("fraction below")
    axes[2].grid(True, alpha=0.3)
    plt.tight_layout()
    plt.savefig(os.path.join(save_dir, f"{name}_distribution.png"), dpi=150, bbox_inches="tight")
    plt.close(fig)


def channel_stats(a):
    c = a.reshape(a.shape[0], -1)
    return {
        "mean": c.mean(1),
        "std": c.std(1),
        "max": c.max(1),
        "sparsity": (c == 0).mean(1),
    }


def plot_channel_stats(name, a, save_dir):
    st = channel_stats(a)
    x = np.arange(a.shape[0])
    fig, axes = plt.subplots(2, 2, figsize=(16, 10))
    for ax, (key, color) in zip(
        axes.flatten(),
        [("mean", "steelblue"), ("std", "seagreen"), ("max", "darkorange"), ("sparsity", "purple")],
    ):
        ax.bar(x, st[key], color=color)
        ax.set_title(f"{name}: channel {key}")
        ax.set_xlabel("channel")
        ax.grid(True, alpha=0.3)
    plt.tight_layout()
    plt.savefig(os.path.join(save_dir, f"{name}_channel_stats.png"), dpi=150, bbox_inches="tight")
    plt.close(fig)


def plot_spatial_patterns(name, a, save_dir):
    fig, axes = plt.subplots(3, 3, figsize=(15, 14))
    for ax, (title, m, cmap) in zip(
        axes[0],
        [("mean", a.mean(0), "viridis"), ("max", a.max(0), "hot"), ("std", a.std(0), "plasma")],
    ):
        im = ax.imshow(m, cmap=cmap)
        ax.set_title(f"{name}: {title} over channels")
        ax.axis("off")
        plt.colorbar(im, ax=ax)
    top = np.argsort(a.reshape(a.shape[0], -1).mean(1))[::-1][:6]
    for ax, c in zip(axes[1:].flatten(), top):
        sns.heatmap(a[c], ax=ax, cmap="viridis", xticklabels=False, yticklabels=False)
        ax.set_title(f"channel {c}")
    plt.tight_layout()
    plt.savefig(
        os.path.join(save_dir, f"{name}_spatial_patterns.png"), dpi=150, bbox_inches="tight"
    )
    plt.close(fig)


def plot_layer_comparison(summary, save_dir):
    names = list(summary)
    fig, axes = plt.subplots(2, 2, figsize=(16, 10))
    for ax, key in zip(axes.flatten(), ["mean", "std", "sparsity", "max"]):
        sns.barplot(x=names, y=[summary[n][key] for n in names], ax=ax, color="steelblue")
        ax.set_title(f"{key} per layer")
        ax.tick_params(axis="x", rotation=45)
    plt.tight_layout()
    plt.savefig(os.path.join(save_dir, "layer_comparison.png"), dpi=150, bbox_inches="tight")
    plt.close(fig)


def health(name, s):
    out = []
    if not 0.1 <= s["mean"] <= 2.0:
        out.append(f"{name}: mean activation {s['mean']:.4f} outside 0.1-2.0 (dead or saturated)")
    if not 0.3 <= s["sparsity"] <= 0.7:
        out.append(f"{name}: sparsity {s['sparsity']:.2%} outside 30-70%")
    if s["dead_channels"]:
        out.append(f"{name}: {s['dead_channels']} dead channels")
    return out


def main():
    p = argparse.ArgumentParser(description="analyse saved feature maps (PyTorch toolkit)")
    p.add_argument("feature_file")
    p.add_argument("--save_dir", default="feature_analysis")
    p.add_argument("--layers", nargs="+", default=None)
    args = p.parse_args()
    with open(args.feature_file, "rb") as f:
        data = pickle.load(f)
    phase("read")
    os.makedirs(args.save_dir, exist_ok=True)
    sns.set_style("whitegrid")
    layers = args.layers or list(data["activations"])
    summary = {}
    for name in layers:
        a = data["activations"][name][0].squeeze(0).numpy()  # (C, H, W)
        st = channel_stats(a)
        summary[name] = {
            "mean": float(a.mean()),
            "std": float(a.std()),
            "min": float(a.min()),
            "max": float(a.max()),
            "sparsity": float((a == 0).mean()),
            "dead_channels": int((st["max"] == 0).sum()),
        }
        print(f"{name}: shape {a.shape} mean {summary[name]['mean']:.4f} "
              f"std {summary[name]['std']:.4f} sparsity {summary[name]['sparsity']:.2%}")
        plot_distribution(name, a, args.save_dir)
        plot_channel_stats(name, a, args.save_dir)
        plot_spatial_patterns(name, a, args.save_dir)
        phase(f"layer {name}")
    plot_layer_comparison(summary, args.save_dir)
    for name, s in summary.items():
        for line in health(name, s):
            print(line)
    phase("comparison")
    print(f"analysis saved to {args.save_dir}")


if __name__ == "__main__":
    main()
