"""Fine-tuning GR00T N1 on GR00T LeRobot datasets: dataset windows, batching, the trainer (no ROS)."""

from .collate import Gr00tTrainingCollator
from .dataset import (
    DatasetError,
    DatasetMeta,
    Gr00tWindowDataset,
    ShuffledStreamSampler,
    WindowConfig,
    dataset_metadata,
    load_dataset_meta,
)
from .trainer import (
    FinetuneConfig,
    FinetuneResult,
    Gr00tFinetuner,
    evaluation_loss,
    finetune,
    latest_checkpoint,
    read_train_log,
)

__all__ = [
    "DatasetError",
    "DatasetMeta",
    "FinetuneConfig",
    "FinetuneResult",
    "Gr00tFinetuner",
    "Gr00tTrainingCollator",
    "Gr00tWindowDataset",
    "ShuffledStreamSampler",
    "WindowConfig",
    "dataset_metadata",
    "evaluation_loss",
    "finetune",
    "latest_checkpoint",
    "load_dataset_meta",
    "read_train_log",
]
