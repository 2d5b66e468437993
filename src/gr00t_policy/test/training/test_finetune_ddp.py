"""Multi-process fine-tuning (DDP): two gloo processes on the CPU under ``torch.distributed.run``.

Two torchrun jobs run the real ``gr00t-finetune`` CLI: 3 optimizer steps (checkpoints at 2 and 3);
then, after ``checkpoint-3`` and the final model are deleted (a crash after step 2), a ``--resume``
job to step 3 again. Each rank records a hash of its parameters after training, so the tests can
check that the ranks agree, that only rank 0 wrote files, and that the resumed job (same data
shards, every rank's RNG restored) repeats the lost step. About 40 s of CPU time in all.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from torch.utils.data.distributed import DistributedSampler

from gr00t_policy.policy import Gr00tPolicy
from gr00t_policy.training import (
    DistributedContext,
    FinetuneConfig,
    Gr00tFinetuner,
    ShuffledStreamSampler,
    distributed_session,
    read_train_log,
)

WORLD_SIZE = 2
BATCH, ACCUMULATION, STEPS, SAVE_STEPS = 2, 2, 3, 2
EFFECTIVE_BATCH = BATCH * ACCUMULATION * WORLD_SIZE
JOB_TIMEOUT_S = 300

WORKER = textwrap.dedent(
    '''
    """One torchrun rank of gr00t-finetune; writes what this rank trained to <report>/rank<r>.json."""
    import hashlib
    import json
    import os
    import sys
    from pathlib import Path

    import torch.distributed as dist

    from gr00t_policy.cli import finetune as cli
    from gr00t_policy.training import trainer

    report = Path(sys.argv[1])
    runs = []
    original_train = trainer.Gr00tFinetuner.train

    def recording_train(self):
        initial_seed = self.loss_generator.initial_seed()
        result = original_train(self)
        digest = hashlib.sha256()
        for name, tensor in sorted(self.model.state_dict().items()):
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        readout = hashlib.sha256()
        if self.goal_readout is not None:
            for name, tensor in sorted(self.goal_readout.state_dict().items()):
                readout.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        runs.append({
            "rank": self.dist.rank, "world_size": self.dist.world_size, "ddp": self.ddp is not None,
            "find_unused_parameters": bool(self.ddp.find_unused_parameters) if self.ddp is not None else None,
            "start_step": result.start_step, "final_step": result.final_step,
            "losses": result.losses, "sha256": digest.hexdigest(), "loss_seed": initial_seed,
            "readout_sha256": readout.hexdigest() if self.goal_readout is not None else None,
            "global_batch_size": self.global_batch_size,
        })
        return result

    trainer.Gr00tFinetuner.train = recording_train
    code = cli.main(sys.argv[2:])
    record = {"code": code, "destroyed": not dist.is_initialized(), "runs": runs}
    (report / f"rank{os.environ['RANK']}.json").write_text(json.dumps(record))
    sys.exit(code)
    '''
)


def _torchrun(worker: Path, report: Path, args: list[str]) -> dict:
    """Run a 2-process torchrun job in its own session (killed as a whole if it hangs)."""
    report.mkdir()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        str(WORLD_SIZE),
        str(worker),
        str(report),
        *args,
    ]
    proc = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        stdout, stderr = proc.communicate(timeout=JOB_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # torchrun and its workers: the session this test started
        stdout, stderr = proc.communicate()
        pytest.fail(f"torchrun job still running after {JOB_TIMEOUT_S} s:\n{stdout[-2000:]}\n{stderr[-4000:]}")
    ranks = {int(p.stem.removeprefix("rank")): json.loads(p.read_text()) for p in report.glob("rank*.json")}
    return {"returncode": proc.returncode, "stdout": stdout, "stderr": stderr, "ranks": ranks}


@pytest.fixture(scope="module")
def ddp_run(blank_dataset: Path, tmp_path_factory: pytest.TempPathFactory):
    """A 3-step two-process job, then a --resume job after losing its last checkpoint."""
    tmp = tmp_path_factory.mktemp("ddp")
    output = tmp / "out"
    worker = tmp / "ddp_worker.py"
    worker.write_text(WORKER)
    args = [
        "--dataset",
        str(blank_dataset),
        "--output-dir",
        str(output),
        "--preset",
        "demo",
        "--no-video",
        "--no-tune-visual",
        "--batch-size",
        str(BATCH),
        "--gradient-accumulation-steps",
        str(ACCUMULATION),
        "--max-steps",
        str(STEPS),
        "--save-steps",
        str(SAVE_STEPS),
        "--learning-rate",
        "3e-3",
        "--log-every",
        "1",
        "--num-workers",
        "0",
        "--device",
        "cpu",
        "--no-progress",
        "--goal-readout-weight",
        "1.0",  # a module outside DistributedDataParallel, averaged by hand
    ]
    first = _torchrun(worker, tmp / "report_first", args)
    if first["returncode"] != 0:
        return {"jobs": [first], "output": output, "saved": tmp}
    # A crash after step 2: only checkpoint-2 survives.
    shutil.copy(output / "train_log.jsonl", tmp / "uninterrupted_log.jsonl")
    shutil.copy(output / "model.safetensors", tmp / "uninterrupted.safetensors")
    shutil.rmtree(output / "checkpoint-3")
    (output / "model.safetensors").unlink()
    resumed = _torchrun(worker, tmp / "report_resumed", [*args, "--resume"])
    return {"jobs": [first, resumed], "output": output, "saved": tmp}


def _runs(ddp_run, rank: int) -> list[dict]:
    """The training runs rank ``rank`` recorded, first job then resumed job."""
    return [run for job in ddp_run["jobs"] for run in job["ranks"][rank]["runs"]]


def test_torchrun_jobs_exit_cleanly_on_both_ranks(ddp_run):
    assert len(ddp_run["jobs"]) == 2, "the first job failed"
    for job in ddp_run["jobs"]:
        assert job["returncode"] == 0, job["stdout"][-3000:] + job["stderr"][-5000:]
        assert sorted(job["ranks"]) == [0, 1]
        for rank, report in job["ranks"].items():
            assert report["code"] == 0 and report["destroyed"], rank  # process group gone at the end
            (run,) = report["runs"]
            assert run["rank"] == rank and run["world_size"] == WORLD_SIZE and run["ddp"]
            # Frozen backbone, every trainable parameter gets a gradient: no find_unused_parameters.
            assert run["find_unused_parameters"] is False
            assert run["global_batch_size"] == EFFECTIVE_BATCH
        # Only rank 0 prints the summary and logs at INFO level.
        assert job["stdout"].count("done: step 3") == 1
        assert job["stderr"].count("INFO gr00t_policy.training.trainer: fine-tuning preset demo") == 1
        assert "[rank 1]" not in job["stderr"]


def test_both_ranks_end_with_identical_parameters_from_differently_seeded_noise(ddp_run):
    rank0, rank1 = _runs(ddp_run, 0), _runs(ddp_run, 1)
    assert len(rank0) == len(rank1) == 2
    for first, second in zip(rank0, rank1, strict=True):
        assert first["sha256"] == second["sha256"]
        assert first["readout_sha256"] is not None and first["readout_sha256"] == second["readout_sha256"]
        assert first["losses"] == second["losses"]  # the logged loss is the mean over ranks
    # Loss noise and dropout are seeded per rank (seed + rank); rank 0 keeps the single-process seed.
    assert [rank0[0]["loss_seed"], rank1[0]["loss_seed"]] == [42, 43]


def test_only_rank_0_writes_one_set_of_checkpoints_and_one_log(ddp_run):
    output = ddp_run["output"]
    names = sorted(p.name for p in output.iterdir())
    assert names == [
        "checkpoint-2",
        "checkpoint-3",
        "config.json",
        "experiment_cfg",
        "loss_curve.png",
        "model.safetensors",
        "train_log.jsonl",
    ]
    log = read_train_log(output)
    assert [r["step"] for r in log] == list(range(1, STEPS + 1))  # not doubled by a second writer
    assert log[-1]["epoch"] == pytest.approx(STEPS * EFFECTIVE_BATCH / 72)  # 72 frames in the dataset
    state = torch.load(output / "checkpoint-3" / "trainer_state.pt", map_location="cpu", weights_only=False)
    assert state["world_size"] == WORLD_SIZE and state["sample_position"] == STEPS * EFFECTIVE_BATCH
    assert len(state["rank_rng_states"]) == WORLD_SIZE


def test_resumed_ddp_job_repeats_the_lost_step(ddp_run):
    resumed_run = _runs(ddp_run, 0)[1]
    assert (resumed_run["start_step"], resumed_run["final_step"]) == (SAVE_STEPS, STEPS)
    saved = ddp_run["saved"]
    before = [json.loads(line) for line in (saved / "uninterrupted_log.jsonl").read_text().splitlines()]
    after = read_train_log(ddp_run["output"])
    assert [r["step"] for r in after] == [r["step"] for r in before]
    assert [r["last_loss"] for r in after] == pytest.approx([r["last_loss"] for r in before], abs=1e-6)
    uninterrupted = load_file(str(saved / "uninterrupted.safetensors"))
    resumed = load_file(str(ddp_run["output"] / "model.safetensors"))
    assert resumed.keys() == uninterrupted.keys()
    for name in uninterrupted:  # tolerances as test_finetune's single-process resume test
        tolerance = 1e-5 if name.endswith("to_k.bias") else 1e-6
        torch.testing.assert_close(resumed[name], uninterrupted[name], rtol=0, atol=tolerance, msg=name)


@pytest.mark.parametrize("subdir", ["", "checkpoint-2"])
def test_ddp_checkpoints_load_in_the_policy(ddp_run, subdir):
    policy = Gr00tPolicy.from_pretrained(ddp_run["output"] / subdir)
    assert policy.data_config.name == "gr1_arms_only" and policy.data_config.embodiment_id == 31


# ----------------------------------------------------------------------------- in-process pieces
@pytest.mark.parametrize("num_samples", [12, 11])
def test_sharded_stream_is_the_distributed_sampler_per_epoch_and_covers_the_single_stream(num_samples):
    world, seed, start = 2, 5, 4
    total = 3 * world * num_samples  # 3 epochs per rank, crossing epoch boundaries mid-shard when n is odd

    def take(sampler, count):
        stream = iter(sampler)
        return [next(stream) for _ in range(count)]

    single = take(ShuffledStreamSampler(num_samples, seed, start=start), total)
    shards = [
        take(ShuffledStreamSampler(num_samples, seed, start=start, rank=r, world_size=world), total // world)
        for r in range(world)
    ]
    # Dealt out rank by rank, the shards are the single-process stream (same frames, same draws),
    # so every frame is used once per epoch over all ranks and every crop is distinct.
    assert [item for group in zip(*shards, strict=True) for item in group] == single
    assert len({draw for shard in shards for _, draw in shard}) == total
    if num_samples % world == 0:  # no padding needed: exactly DistributedSampler + set_epoch(epoch)
        for rank in range(world):
            frames = [
                frame
                for frame, _ in take(
                    ShuffledStreamSampler(num_samples, seed, rank=rank, world_size=world), 2 * num_samples // world
                )
            ]
            reference = []
            for epoch in (0, 1):
                sampler = DistributedSampler(range(num_samples), num_replicas=world, rank=rank, shuffle=True, seed=seed)
                sampler.set_epoch(epoch)
                reference += list(sampler)
            assert frames == reference, rank
    with pytest.raises(ValueError, match="rank < world_size"):
        ShuffledStreamSampler(num_samples, seed, rank=2, world_size=2)


def test_without_torchrun_nothing_is_initialised(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    with distributed_session(torch.device("cpu")) as (context, device):
        assert context == DistributedContext() and not context.enabled and context.is_main
        assert device == torch.device("cpu")
        assert context.mean(1.5, device) == 1.5 and context.gather("x") == ["x"] and context.broadcast(3) == 3
    assert not torch.distributed.is_initialized()


def test_probe_finds_trainable_parameters_without_a_gradient(blank_dataset, tmp_path):
    config = FinetuneConfig(
        dataset_dir=blank_dataset,
        output_dir=tmp_path,
        preset="demo",
        use_video=False,
        tune_visual=False,
        batch_size=2,
        num_workers=0,
        device="cpu",
        progress_bar=False,
    )
    trainer = Gr00tFinetuner(config)
    rng = torch.get_rng_state()
    assert trainer.unused_trainable_parameters() == []
    trainer.model.register_parameter("orphan", torch.nn.Parameter(torch.zeros(3)))
    assert trainer.unused_trainable_parameters() == ["orphan"]
    assert torch.equal(torch.get_rng_state(), rng)  # the probe leaves the run's RNG alone
    assert all(p.grad is None for p in trainer.model.parameters())
