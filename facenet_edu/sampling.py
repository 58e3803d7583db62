"""P x K batches: P identities, K images each, the batch shape online triplet mining needs."""

from collections.abc import Iterator

import torch

from .errors import FaceNetEduError


class PKSampler:
    """Yield index batches of P identities x K images, drawn with an explicit generator.

    Identities with at least K images give K distinct images. Identities with fewer
    than K but at least 2 images are sampled with replacement (some images repeat,
    so every identity still has positives). Identities with a single image are
    skipped: they can never form an anchor-positive pair.

    Args:
        labels: (N,) identity label of each image.
        p: identities per batch (at least 2, so there are negatives).
        k: images per identity (at least 2, so there are positives).
        num_batches: how many batches one pass yields.
        generator: the source of randomness; the same seed gives the same batches.

    Each batch is a (P * K,) long tensor, grouped by identity: K indices of the
    first identity, then K of the second, and so on.
    """

    def __init__(self, labels: torch.Tensor, p: int, k: int, num_batches: int, generator: torch.Generator | None = None):
        if p < 2 or k < 2:
            raise FaceNetEduError(f"A P x K batch needs P >= 2 identities and K >= 2 images each, got P={p}, K={k}.")
        labels = torch.as_tensor(labels)
        self.by_identity = [torch.nonzero(labels == c).squeeze(1) for c in labels.unique()]
        self.by_identity = [idx for idx in self.by_identity if idx.numel() >= 2]
        if len(self.by_identity) < p:
            raise FaceNetEduError(
                f"Only {len(self.by_identity)} identities have 2 or more images, fewer than P={p}; lower P or add images."
            )
        self.p, self.k, self.num_batches = p, k, num_batches
        self.generator = generator if generator is not None else torch.Generator().manual_seed(0)

    def __len__(self) -> int:
        return self.num_batches

    def __iter__(self) -> Iterator[torch.Tensor]:
        g = self.generator
        for _ in range(self.num_batches):
            chosen = torch.randperm(len(self.by_identity), generator=g)[: self.p]
            parts = []
            for c in chosen.tolist():
                idx = self.by_identity[c]
                if idx.numel() >= self.k:
                    parts.append(idx[torch.randperm(idx.numel(), generator=g)[: self.k]])
                else:
                    parts.append(idx[torch.randint(idx.numel(), (self.k,), generator=g)])
            yield torch.cat(parts)
