"""Image DataModules: the CIFAR-10 python format (files written here), and the embedded digits."""

import pickle

import numpy as np
import pytest
import torch

from hrm.data.images import (
    CIFAR10_FOLDER,
    CIFAR10_TEST,
    CIFAR10_TRAIN,
    DIGITS_FILE,
    CIFAR10DataModule,
    DigitsDataModule,
    read_digits,
)
from hrm.errors import DataFormatError


def write_cifar(root, per_batch=4):
    """A tiny release in CIFAR-10's python format: pickled dicts of uint8 rows (R, G, B planes of 32x32)."""
    folder = root / CIFAR10_FOLDER
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    batches = {}
    for name in CIFAR10_TRAIN + CIFAR10_TEST:
        data = rng.integers(0, 256, size=(per_batch, 3072), dtype=np.uint8)
        batches[name] = data
        with open(folder / name, "wb") as handle:
            pickle.dump({b"batch_label": name.encode(), b"labels": [0] * per_batch, b"data": data}, handle)
    return batches


def test_the_cifar_loader_reads_the_official_format(tmp_path):
    batches = write_cifar(tmp_path)
    dm = CIFAR10DataModule(data_dir=str(tmp_path), download=False, val_fraction=0.25, batch_size=4)
    dm.prepare_data()
    dm.setup("fit")
    assert (len(dm.train_images), len(dm.val_images), len(dm.test_images)) == (15, 5, 4)
    assert dm.channels == 3 and dm.image_size == 32
    expected = torch.from_numpy(batches["test_batch"]).view(-1, 3, 32, 32).float() / 255
    assert torch.equal(dm.test_images, expected)  # row = 1024 red, 1024 green, 1024 blue values
    pool = torch.cat([dm.train_images, dm.val_images]).flatten(1)
    assert len(torch.unique(pool, dim=0)) == 20  # the split loses and repeats nothing
    assert next(iter(dm.train_dataloader())).shape == (4, 3, 32, 32)


def test_a_broken_cifar_file_is_named_in_one_line(tmp_path):
    write_cifar(tmp_path)
    (tmp_path / CIFAR10_FOLDER / "data_batch_3").write_bytes(b"not a pickle")
    dm = CIFAR10DataModule(data_dir=str(tmp_path), download=False)
    with pytest.raises(DataFormatError, match=r"data_batch_3: not a CIFAR-10 batch"):
        dm.setup("fit")
    (tmp_path / CIFAR10_FOLDER / "data_batch_3").unlink()
    with pytest.raises(DataFormatError, match=r"data_batch_3: missing"):
        CIFAR10DataModule(data_dir=str(tmp_path), download=False).setup("fit")


def test_digits_ship_with_the_package_and_split_deterministically():
    first, second = DigitsDataModule(seed=3), DigitsDataModule(seed=3)
    for dm in (first, second):
        dm.setup("fit")
    assert first.channels == 1 and first.image_size == 32
    assert len(first.train_images) + len(first.val_images) + len(first.test_images) == 1797
    assert torch.equal(first.val_images, second.val_images)
    assert 0.0 <= float(first.train_images.min()) and float(first.train_images.max()) <= 1.0


def test_the_shipped_digits_are_the_1797_labelled_uci_digits():
    images = read_digits()
    with np.load(DIGITS_FILE, allow_pickle=False) as archive:
        labels = archive["labels"]
    assert images.shape == (1797, 8, 8) and int(images.max()) == 16
    assert np.bincount(labels).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    ones, zeros = images[labels == 1].mean(0), images[labels == 0].mean(0)
    assert ones[:, 3:5].mean() > ones[:, [0, 7]].mean() and zeros[3:5, 3:5].mean() < zeros[3:5, [1, 6]].mean()


def test_a_damaged_digits_file_is_one_line_naming_it(tmp_path):
    (tmp_path / "digits.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(DataFormatError, match=r"digits.npz: not the digits archive"):
        read_digits(tmp_path / "digits.npz")
    np.savez(tmp_path / "wide.npz", images=np.full((3, 8, 8), 200, dtype=np.uint8))
    with pytest.raises(DataFormatError, match=r"wide.npz: images: expected uint8 \[N, 8, 8\] in 0..16"):
        read_digits(tmp_path / "wide.npz")
