"""hrm: Hierarchical Reasoning Models and friends, trained with PyTorch Lightning and configured with Hydra."""

__version__ = "0.1.0"


def __getattr__(name: str):
    # `from hrm import load_model` without importing Lightning for everything else that imports hrm
    if name == "load_model":
        from hrm.load import load_model

        return load_model
    raise AttributeError(f"module 'hrm' has no attribute {name!r}")
