"""Launched by tests/test_distributed_train.py under torchrun: a short training without dropout
(dropout masks are drawn per rank, so only runs without it can match one process exactly)."""
import sys

from uao_deploy.jobs import distributed
from uao_deploy.jobs.train import TrainConfig, train
from uao_deploy.model import GUMLPConfig


def short_run(data, out) -> dict:
    config = TrainConfig(model=GUMLPConfig(channels=16, layers=1, channel_hidden=16, dropout_channel=0.0,
                                           dropout_spatial=0.0), epochs=2, batch_size=16, lr=3e-3, max_batches=3)
    return train(data, config, out, progress=False)


if __name__ == "__main__":
    from test_train import _data

    train_path, val_path, out = sys.argv[1:]
    with distributed.process_group("cpu") as ranks:
        assert ranks.world_size == 2
        short_run(_data((train_path, val_path)), out)
