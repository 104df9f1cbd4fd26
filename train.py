"""Train any model of the framework: `python train.py experiment=arc_tiny`, `python train.py --help`.

Hydra composes configs/train.yaml with its groups (model, data, trainer, logger, callbacks, paths,
experiment, debug); hrm/training.py does the work.
"""

import hydra
from omegaconf import DictConfig

from hrm.training import main as run_training
from hrm.utils.cli import hydra_errors_in_one_line


@hydra.main(version_base="1.3", config_path="configs", config_name="train")
def main(cfg: DictConfig) -> float | None:
    return run_training(cfg)  # the optimized_metric's value, for a hyperparameter search


if __name__ == "__main__":
    hydra_errors_in_one_line()  # a config Hydra cannot compose is one line too, like every other error
    main()
