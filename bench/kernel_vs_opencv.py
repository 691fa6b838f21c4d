"""One kernel on a 1024×1024 RGB image, 'same' zero padding: ours against OpenCV's filter2D.

Run: .venv/bin/python bench/kernel_vs_opencv.py [--threads 2]
Prints medians and the ratio ours / OpenCV measured in this run (target: ≤ 1.5×).
"""

from __future__ import annotations

import argparse
import statistics
import time

import cv2
import numpy as np
import torch

from app.core import images, kernels


def median_ms(fn, repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=30)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (1024, 1024, 3), dtype=np.uint8)
    hwc = pixels.astype(np.float32)
    x = images.to_planes(pixels, "rgb")  # prepared once: the app caches this per image
    spec = kernels.ConvSpec(padding="same")
    print(f"1024×1024 RGB float32, 'same' zero padding, {args.threads} threads, "
          f"median of {args.repeat}")
    print(f"{'kernel':>7} {'kind':>10} {'opencv ms':>10} {'ours ms':>8} {'ratio':>6} "
          f"{'ours+prep ms':>13} {'ratio':>6}  target ≤ 1.5×")
    for k in (3, 5, 7, 15):
        g = cv2.getGaussianKernel(k, -1)
        for kind, kernel in (("full-rank", rng.normal(size=(k, k))), ("separable", g @ g.T)):
            k32 = kernel.astype(np.float32)
            want = cv2.filter2D(hwc, -1, k32, borderType=cv2.BORDER_CONSTANT)
            got = kernels.convolve(x, kernel, spec)[0].permute(1, 2, 0).numpy()
            err = np.abs(got - want).max() / 255
            assert err < 1e-2, f"results differ: {err}"
            ref = median_ms(lambda k32=k32: cv2.filter2D(hwc, -1, k32,
                                                         borderType=cv2.BORDER_CONSTANT),
                            args.repeat)
            ours = median_ms(lambda kernel=kernel: kernels.convolve(x, kernel, spec), args.repeat)
            prep = median_ms(lambda kernel=kernel: kernels.convolve(
                images.to_planes(pixels, "rgb"), kernel, spec), args.repeat)
            verdict = "PASS" if ours / ref <= 1.5 else "MISS"
            print(f"{k:>5}×{k:<1} {kind:>10} {ref:>10.2f} {ours:>8.2f} {ours / ref:>5.2f}× "
                  f"{prep:>13.2f} {prep / ref:>5.2f}×  {verdict if k in (3, 7) else '(info)'}")


if __name__ == "__main__":
    main()
