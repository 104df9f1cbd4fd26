"""Image DataModules for the VAEs: CIFAR-10, and the hand-written digits as the embedded default.

Images are float tensors [N, C, H, W] in [0, 1], split once, deterministically in the seed, into
train / val / test. `digits` ships inside this package (`hrm/assets/digits/`: 1,797 8x8 grey digits,
upsampled to the model's 32x32): it needs no network, so the VAE experiments run on a fresh clone. `cifar10` reads the
official python release (`cifar-10-batches-py/`), downloading and checking it first where the network
allows; a folder in the same format (e.g. a subset) can be pointed to with `data_dir`.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
import shutil
import tarfile
import tempfile
import urllib.request
import zipfile
from pathlib import Path

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from hrm.data.sampling import ResumableSampling
from hrm.errors import DataFormatError, UserError

log = logging.getLogger(__name__)

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
CIFAR10_FOLDER = "cifar-10-batches-py"
CIFAR10_TRAIN = [f"data_batch_{i}" for i in range(1, 6)]
CIFAR10_TEST = ["test_batch"]


class ImageDataModule(ResumableSampling, L.LightningDataModule):
    """Subclasses load (train+val images, test images); this splits off val and serves the loaders."""

    def __init__(self, batch_size: int = 64, val_fraction: float = 0.1, seed: int = 42, max_images: int | None = None):
        """max_images: keep at most this many images per split (quick checks)."""
        super().__init__()
        if not 0.0 < val_fraction < 1.0:
            raise UserError(f"data.val_fraction must be between 0 and 1, got {val_fraction}")
        self.batch_size, self.val_fraction, self.seed, self.max_images = batch_size, val_fraction, seed, max_images
        self.train_images: torch.Tensor | None = None

    def load(self) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def setup(self, stage: str | None = None) -> None:
        if self.train_images is not None:
            return
        pool, test = self.load()
        order = torch.randperm(len(pool), generator=torch.Generator().manual_seed(self.seed))
        n_val = max(1, round(len(pool) * self.val_fraction))
        self.val_images, self.train_images, self.test_images = pool[order[:n_val]], pool[order[n_val:]], test
        if self.max_images:
            self.train_images, self.val_images, self.test_images = (
                x[: self.max_images] for x in (self.train_images, self.val_images, self.test_images))
        log.info("%s: %d train / %d val / %d test images of %s", type(self).__name__, len(self.train_images),
                 len(self.val_images), len(self.test_images), tuple(self.train_images.shape[1:]))

    @property
    def channels(self) -> int:
        return self.train_images.shape[1]

    @property
    def image_size(self) -> int:
        return self.train_images.shape[-1]

    def train_dataloader(self) -> DataLoader:
        sampler = self.resumable_sampler(len(self.train_images), self.seed)
        return DataLoader(self.train_images, batch_size=self.batch_size, sampler=sampler)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_images, batch_size=self.batch_size)

    def test_dataloader(self) -> DataLoader:
        return DataLoader(self.test_images, batch_size=self.batch_size)


class DigitsDataModule(ImageDataModule):
    def __init__(self, image_size: int = 32, test_fraction: float = 0.15, **kwargs):
        super().__init__(**kwargs)
        self.size, self.test_fraction = image_size, test_fraction

    def load(self) -> tuple[torch.Tensor, torch.Tensor]:
        digits = torch.from_numpy(read_digits()).float().unsqueeze(1) / DIGITS_MAX  # [1797, 1, 8, 8]
        images = F.interpolate(digits, size=(self.size, self.size), mode="bilinear", align_corners=False)
        images = images.clamp(0.0, 1.0)
        order = torch.randperm(len(images), generator=torch.Generator().manual_seed(self.seed + 1))
        n_test = round(len(images) * self.test_fraction)
        return images[order[n_test:]], images[order[:n_test]]


DIGITS_FILE = Path(__file__).resolve().parent.parent / "assets" / "digits" / "digits.npz"
DIGITS_MAX = 16  # a pixel counts the set pixels of a 4x4 block


def read_digits(path: Path = DIGITS_FILE) -> np.ndarray:
    """The shipped digits as uint8 [N, 8, 8] in 0..16, checked: a damaged file is one line, not garbage."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            images = archive["images"]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:
        raise DataFormatError(f"{path}: not the digits archive ({error}); reinstall the package") from None
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (8, 8) or images.max() > DIGITS_MAX:
        raise DataFormatError(f"{path}: images: expected uint8 [N, 8, 8] in 0..{DIGITS_MAX}, got {images.dtype}"
                              f" {list(images.shape)}")
    return images


class CIFARBatchUnpickler(pickle.Unpickler):
    """Unpickles what a CIFAR-10 batch holds (dicts, lists, bytes, str, numbers, numpy arrays) and nothing
    else: any other class or function a forged file names is refused, so loading it runs no code."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
               ("numpy", "ndarray"), ("numpy", "dtype"),
               ("_codecs", "encode")}  # how a protocol-2 pickle spells bytes: encodes a str, nothing more

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refused to load {module}.{name} (a CIFAR-10 batch holds no such thing)")
        return super().find_class(module, name)


CIFAR_BATCH_MAX_BYTES = 256 * 2**20  # a real batch is 31 MB


def read_cifar_batches(folder: Path, names: list[str]) -> torch.Tensor:
    """The python release's pickled batches ({b"data": uint8 [N, 3072], ...}) as [N, 3, 32, 32] in [0, 1]."""
    arrays = []
    for name in names:
        path = folder / name
        if not path.is_file():
            raise DataFormatError(f"{path}: missing (expected the CIFAR-10 python release in {folder})")
        if path.stat().st_size > CIFAR_BATCH_MAX_BYTES:
            raise DataFormatError(f"{path}: {path.stat().st_size:,} bytes, more than a CIFAR-10 batch's"
                                  f" {CIFAR_BATCH_MAX_BYTES:,}")
        try:
            with open(path, "rb") as handle:
                batch = CIFARBatchUnpickler(handle, encoding="bytes").load()
            if not isinstance(batch, dict):
                raise TypeError(f"holds a {type(batch).__name__}, not a dict")
            data = np.asarray(batch[b"data"], dtype=np.uint8)
        except (pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError, AttributeError, IndexError,
                RecursionError, MemoryError) as error:
            raise DataFormatError(f"{path}: not a CIFAR-10 batch ({type(error).__name__}: {error})") from None
        if data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
            raise DataFormatError(f"{path}: data has shape {data.shape}, expected [N, 3072]")
        arrays.append(data)
    images = torch.from_numpy(np.concatenate(arrays)).view(-1, 3, 32, 32)
    return images.float() / 255.0


def download_cifar10(data_dir: Path) -> None:
    """Fetch and unpack the official archive, checking its MD5; unpacked into place only when complete."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=data_dir) as tmp:
        archive = Path(tmp) / "cifar-10-python.tar.gz"
        log.info("downloading %s", CIFAR10_URL)
        try:
            urllib.request.urlretrieve(CIFAR10_URL, archive)
        except OSError as error:
            raise UserError(f"cannot download CIFAR-10 from {CIFAR10_URL} ({error}); put the python release in "
                            f"{data_dir / CIFAR10_FOLDER} or use data=digits") from None
        digest = hashlib.md5(archive.read_bytes()).hexdigest()
        if digest != CIFAR10_MD5:
            raise DataFormatError(f"{archive.name}: MD5 {digest}, expected {CIFAR10_MD5} (a broken download)")
        with tarfile.open(archive) as tar:
            tar.extractall(tmp, filter="data")
        shutil.move(str(Path(tmp) / CIFAR10_FOLDER), data_dir / CIFAR10_FOLDER)


class CIFAR10DataModule(ImageDataModule):
    def __init__(self, data_dir: str, download: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.data_dir, self.download = Path(data_dir), download

    def prepare_data(self) -> None:
        if not (self.data_dir / CIFAR10_FOLDER).is_dir() and self.download:
            download_cifar10(self.data_dir)

    def load(self) -> tuple[torch.Tensor, torch.Tensor]:
        folder = self.data_dir / CIFAR10_FOLDER
        return read_cifar_batches(folder, CIFAR10_TRAIN), read_cifar_batches(folder, CIFAR10_TEST)
