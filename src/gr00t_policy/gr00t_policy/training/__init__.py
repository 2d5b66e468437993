"""Fine-tuning GR00T N1 on GR00T LeRobot datasets: dataset windows, batching, the trainer (no ROS)."""

from .checkpointing import latest_checkpoint
from .collate import Gr00tTrainingCollator
from .config import FinetuneConfig
from .dataset import Gr00tWindowDataset, WindowConfig
from .dataset_meta import DatasetError, DatasetMeta, dataset_metadata, load_dataset_meta
from .distributed import DistributedContext, distributed_session, launched_by_torchrun
from .goal_readout import GoalReadout
from .sampler import ShuffledStreamSampler
from .train_log import read_train_log
from .trainer import FinetuneResult, Gr00tFinetuner, evaluation_loss, finetune

__all__ = [
    "DatasetError",
    "DatasetMeta",
    "DistributedContext",
    "FinetuneConfig",
    "FinetuneResult",
    "GoalReadout",
    "Gr00tFinetuner",
    "Gr00tTrainingCollator",
    "Gr00tWindowDataset",
    "ShuffledStreamSampler",
    "WindowConfig",
    "dataset_metadata",
    "distributed_session",
    "evaluation_loss",
    "finetune",
    "latest_checkpoint",
    "launched_by_torchrun",
    "load_dataset_meta",
    "read_train_log",
]
