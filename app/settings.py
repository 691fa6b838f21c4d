"""Every limit and path in one place.

`Settings` holds what an operator may tune: each field can be overridden from the environment,
`PLAYGROUND_MAX_UPLOAD_BYTES=5000000` sets `max_upload_bytes`, and so on for every field.

`LIMITS` holds the bounds on what a request may ask for (a kernel's side, a stride, a network's
parameters, a run's epochs…), fixed in the code: see `Limits`. The pure compute in app.core
never imports this module; its functions take these limits as arguments.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path

from app.core.depth import DepthLimits
from app.core.generative import GenerativeLimits
from app.core.kernels import KernelLimits
from app.core.nets import NetLimits
from app.core.recurrent import RecurrentLimits
from app.core.sequences import SequenceLimits
from app.core.stepper import StepperLimits
from app.core.training import TrainLimits

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    # uploads
    max_upload_bytes: int = 20_000_000  # whole request body, counted as it arrives → 413
    max_image_pixels: int = 40_000_000
    max_image_side: int = 12_000
    preview_side: int = 1024  # interactive previews work on an image scaled to this long side
    image_store_items: int = 32  # recent uploads kept in memory; built-in samples always are
    image_store_files: int = 256  # uploads kept on disk (data_dir/uploads), shared by workers
    image_store_bytes: int = 768_000_000
    result_store_items: int = 256  # rendered outputs, served from /api/v1/results/{id}, kept
    # in memory and in data_dir/results (the same count), so any web worker serves them
    result_store_bytes: int = 256_000_000
    # kernel lab
    bank_map_side: int = 256  # filter-bank activation maps are computed on an image this size
    # paths
    static_dir: Path = ROOT / "static"
    templates_dir: Path = ROOT / "templates"
    data_dir: Path = ROOT / "data"  # MNIST cache, uploaded datasets, run records, saved models
    models_dir: Path = ROOT / "models"  # models trained by us and shipped (read-only)
    idx_dirs: str = ""  # directories of IDX files (Fashion-MNIST, KMNIST…), separated by os.pathsep
    # datasets
    max_dataset_upload_bytes: int = 100_000_000  # a zip of class folders, compressed
    max_dataset_unpacked_bytes: int = 200_000_000
    max_dataset_files: int = 100_000
    max_datasets: int = 20  # uploaded datasets kept on disk
    max_text_upload_bytes: int = 5_000_000  # a .txt or .csv for the sequence lab
    max_sequence_datasets: int = 20  # uploaded sequence datasets kept on disk
    # training runs
    max_concurrent_runs: int = 1  # each run gets cores // this many threads
    max_queued_runs: int = 4  # beyond this a new run gets 429 with Retry-After
    max_run_seconds: float = 1800.0  # training time of one run, pauses excluded
    max_saved_models: int = 50
    # a Ray cluster (README, "Running on a cluster"): "auto", or the head's host:port. Empty:
    # runs train in processes on this machine, max_concurrent_runs at a time.
    ray_address: str = ""
    ray_cpus_per_run: float = 1.0  # CPUs a run asks the cluster for (its PyTorch threads)
    # compute
    torch_threads: int = 0  # 0: leave PyTorch's default (all cores)
    # The inspector's test-set pass for the shipped models (their top examples and mistakes,
    # seconds of CPU) begins on a background thread when the app starts, so the first answer
    # that needs it is ready: the start-up does not wait for it, a request asked before it is
    # done gets its progress (202), and the app's shutdown stops it after the current batch.
    # Off: it runs when first asked for (answered with progress meanwhile all the same). An
    # app made for a test that does not look at test-set answers can turn it off and pay no
    # CPU for it (PLAYGROUND_PRECOMPUTE_TEST_SETS=0).
    precompute_test_sets: bool = True
    # shared mode: a class on one server (README, "Hosting a class"). Off, nothing changes.
    shared: bool = False  # every visitor an owner (a signed cookie); others' things read-only
    secret_key: str = ""  # signs the owner cookie; empty: one generated into data_dir, kept
    admin_token: str = ""  # `Authorization: Bearer <it>` may do everything (the teacher)
    # fair share, per visitor (shared mode only): a queue of 4 and a run or two each leaves
    # room for the others of a class; three datasets and 200 MB are a few experiments' worth
    max_runs_per_owner: int = 2  # queued and training at once; beyond: 429 for them alone
    max_datasets_per_owner: int = 3  # uploaded datasets (image zips and sequence data)
    max_upload_bytes_per_owner: int = 200_000_000  # those datasets' bytes
    max_images_per_owner: int = 32  # uploaded images kept; beyond, their own oldest go first

    @classmethod
    def from_env(cls, prefix: str = "PLAYGROUND_") -> Settings:
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = os.environ.get(prefix + f.name.upper())
            if raw is None:
                continue
            kind = type(getattr(cls, f.name))
            if kind is bool:  # bool("0") is True: read the words people write
                values[f.name] = raw.strip().lower() in ("1", "true", "yes", "on")
            else:
                values[f.name] = Path(raw) if kind is type(ROOT) else kind(raw)
        return cls(**values)


@dataclass(frozen=True)
class Limits:
    """The bounds on every request, one group per lab (each group is the dataclass of the core
    module that checks it), passed to the core as `LIMITS.<group>`.

    They are fixed, not overridable from the environment like `Settings`: the request models
    state them in the OpenAPI schema (`Field(le=LIMITS.…)`, read once, at import), so a value
    changed at run time would make the service refuse requests its own schema calls valid (or
    take ones it calls invalid). Change one here, and the schema, the pages and the checks all
    follow.
    """

    kernels: KernelLimits = KernelLimits(
        kernel_side=15,  # rows and columns of a kernel
        stride=8,
        dilation=8,
        padding=64,  # cells on each side, when padding is a number
        # these three keep every result finite in float32:
        # 15² taps · 1e6 · 1e9 / 1e-6 ≈ 2e23, under float32's 3e38
        weight=1e6,  # |a kernel weight|
        value=1e9,  # |an input value|, |scale|, |bias|
        min_scale=1e-6,  # smallest |scale|: it divides the sum
        grid_side=512,  # rows and columns of a numeric `input` grid for /convolve
        bank_kernels=16,  # kernels in one filter bank
    )
    stepper: StepperLimits = StepperLimits(
        grid_side=64,  # an input grid is at most 64×64…
        channels=4,  # …with at most 4 channels
        kernel_side=15,
        stride=8,
        dilation=8,
        padding=8,  # zero cells on each side of a convolution's input
        pool_side=8,  # pooling windows up to 8×8 (padding up to half of that)
        # a trace lists every product; beyond this it is too long to read or to send
        # (a 64×64 input with a 7×7 kernel)
        trace_terms=250_000,
        value=1e9,  # |a grid value|, |bias|
        points=100,  # gradient descent: [x, y] pairs
        epochs=500,
        steps=10_000,  # epochs × steps per epoch
        learning_rate=100.0,
        coord=1e6,  # |a point coordinate|, |w0|, |b0|
        diverged_at=1e9,  # |w| or |b| past this: the descent has blown up, the trace stops
    )
    nets: NetLimits = NetLimits(
        layers=40,
        # these two keep a network trainable on a laptop's CPU
        params=5_000_000,  # weights and biases of the whole network
        layer_values=1_000_000,  # numbers in one layer's output, per example
        classes=1000,
        input_channels=16,
        input_side=512,  # px, the input image's longer side
    )
    # the slides' famous networks (core.nets.PRESETS "for_reading"), whose tables one reads and
    # does not train here: VGG-19 has 45 layers and 144 M parameters, VGG's first layers hold
    # 3.2 M values per image
    reading_nets: NetLimits = NetLimits(layers=64, params=200_000_000, layer_values=4_000_000,
                                        classes=1000, input_channels=16, input_side=512)
    # the skip-connection experiment (core.depth): two nets of up to 32 weight layers each
    depth: DepthLimits = DepthLimits(depth=32, width=32, epochs=5, batch=512, learning_rate=0.1)
    training: TrainLimits = TrainLimits(
        epochs=50,
        batch=1024,  # examples per batch
        learning_rate=10,
    )
    generative: GenerativeLimits = GenerativeLimits(
        batch=256,  # latent points decoded (or sampled) in one request
        steps=64,  # frames of an interpolation
        # |z| beyond 4 lies outside 99.99% of the standard normal prior: decoded, and said so
        prior_bound=4,
        # |z| up to this decodes to finite pixels in every shipped model (measured: at 1e10 the
        # largest pre-activation is ~6e11, float32 holds 3e38); beyond it, refused
        latent_value=1e6,
        manifold_side=30,  # the manifold picture: at most 30×30 digits
        # a map spans at most ±100 a side: a VAE's digits lie within ±3, the plain
        # autoencoder's where it put them (ae-2d's card says how far)
        map_range=100,
        latent=128,  # a run to watch: its latent size…
        run_epochs=20,  # …its epochs (a run to watch, not to ship)…
        run_batch=512,  # …its batch size
        run_learning_rate=1,
    )
    recurrent: RecurrentLimits = RecurrentLimits(
        input_size=64,  # numbers in one step's input (a one-hot character of a small alphabet)
        hidden_size=64,  # a traced cell's state (the page shows the numbers up to 8)
        steps=256,  # a trace's time steps
        value=1e6,  # |an input|, |a weight|, |h0|, |c0|
        flow_length=200,  # the gradient flow's sequence length
        flow_hidden=64,
        weight_scale=10,  # the recurrent weights' scale: (0, 10]
        memory_delay=64,  # the memory task's longest delay…
        memory_steps=5000,  # …training steps per cell and delay…
        memory_hidden=64,  # …and hidden size
    )
    sequences: SequenceLimits = SequenceLimits(
        # these keep a character model trainable on a laptop's CPU
        hidden_size=512,
        layers=3,
        embedding=128,
        seq_len=512,  # characters per training window (backpropagation through time)
        batch=512,
        epochs=100,
        learning_rate=1.0,
        clip=100.0,
        vocab=512,  # distinct characters of a text
        generate_length=2000,  # characters generated in one request
        prompt_chars=1000,
        temperature=5.0,
        text_chars=200,  # a text to classify (a name, a word)
    )
    # IDX files (MNIST's format): MNIST's training images are 47 MB unpacked; a quarter of a
    # gigabyte leaves room for larger sets while refusing a header that claims terabytes (or a
    # gzip bomb)
    idx_bytes: int = 256 * 2**20
    pixels_side: int = 1024  # the inspector: rows and columns of a drawing sent as numbers
    top_examples: int = 64  # the inspector: test images in one "excite this unit most" answer
    examples_page: int = 200  # the inspector: test images in one page of a listing
    # the generative lab's slider WebSocket: one message, a latent point of at most a few
    # hundred numbers, is far under this
    live_message_bytes: int = 16_384


LIMITS = Limits()
