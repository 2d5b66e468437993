"""The order samples are drawn in: an endless, resumable, rank-sharded stream of shuffled epochs."""

from __future__ import annotations

import torch


class ShuffledStreamSampler(torch.utils.data.Sampler):
    """An endless stream of ``(frame, draw)``: a fresh permutation of the dataset per epoch.

    Position ``p`` of the stream is epoch ``p // n``, item ``p % n`` of ``randperm(n, seed + epoch)``,
    and ``draw = p``; so starting at ``start`` reproduces a run that was interrupted after
    ``start`` samples, independent of how many DataLoader workers prefetch.

    With ``world_size`` > 1 (DDP) the one global stream is dealt out: rank ``r`` takes positions
    ``start + r``, ``start + r + world_size``, ... Within an epoch that is exactly
    ``torch.utils.data.DistributedSampler(shuffle=True, seed=seed)`` after ``set_epoch(epoch)``
    (same ``randperm(n, seed + epoch)``, rank ``r`` takes ``perm[r::world_size]``); the epoch
    change happens per sample position, so every sample is seen once per epoch without the padding
    or dropping DistributedSampler needs when ``n`` is not a multiple of the world size, and a
    resumed run continues the same streams. ``draw`` stays the global position, so every rank's
    crops are distinct.
    """

    def __init__(self, num_samples: int, seed: int, start: int = 0, *, rank: int = 0, world_size: int = 1) -> None:
        if num_samples < 1:
            raise ValueError("the dataset has no samples")
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"need 0 <= rank < world_size, got rank {rank}, world_size {world_size}")
        self.num_samples = int(num_samples)
        self.seed = int(seed)
        self.start = int(start)
        self.rank = int(rank)
        self.world_size = int(world_size)

    def _permutation(self, epoch: int) -> torch.Tensor:
        return torch.randperm(self.num_samples, generator=torch.Generator().manual_seed(self.seed + epoch))

    def __iter__(self):
        position = self.start + self.rank
        epoch = position // self.num_samples
        order = self._permutation(epoch)
        while True:
            if position // self.num_samples != epoch:
                epoch = position // self.num_samples
                order = self._permutation(epoch)
            yield int(order[position % self.num_samples]), position
            position += self.world_size
