"""Run under torchrun by test_training.py: train, then save this rank's weights."""

import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

from napari_mcdet.train.config import TrainConfig
from napari_mcdet.train.distributed import cleanup_distributed, init_distributed
from napari_mcdet.train.loop import train

if __name__ == "__main__":
    torch.set_num_threads(1)
    config = TrainConfig.load(sys.argv[1])
    dist = init_distributed("cpu")
    trainer = train(config, dist=dist)
    state = {k: v.contiguous() for k, v in trainer.network.state_dict().items()}
    save_file(state, str(Path(sys.argv[2]) / f"rank{dist.rank}.safetensors"))
    cleanup_distributed()
