"""Benchmark of the simulation library: model build (cold / cached), physics step, rendering.

Run: `python src/gr00t_sim/benchmarks/bench_sim.py` (after `. install/setup.bash`; MUJOCO_GL=egl).
Prints one JSON object; numbers from this machine are in benchmarks/RESULTS.md.
"""

from __future__ import annotations

import json
import platform
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import mujoco

from gr00t_description import load_stack
from gr00t_sim import GR1TabletopSim, SimConfig
from gr00t_sim.model_cache import load_or_build_model

RENDER_FRAMES = 60
PHYSICS_STEPS = 5000


def time_builds(config: SimConfig) -> dict[str, float]:
    robot = load_stack().robot
    with tempfile.TemporaryDirectory() as cache_dir:
        isolated = replace(config, cache_dir=Path(cache_dir))
        cold = load_or_build_model(robot, isolated)
        cached = load_or_build_model(robot, isolated)
    assert not cold.from_cache and cached.from_cache
    return {"build_cold_s": round(cold.seconds, 2), "build_cached_s": round(cached.seconds, 3)}


def time_physics(sim: GR1TabletopSim) -> dict[str, float]:
    sim.reset(0)
    sim.step(250)  # let the objects settle on the table: resting contacts, as in a running scene
    start = time.perf_counter()
    for _ in range(PHYSICS_STEPS):
        sim.step()  # one call per step, as the node's loop does
    per_step = (time.perf_counter() - start) / PHYSICS_STEPS
    return {
        "physics_step_us": round(per_step * 1e6, 1),
        "physics_x_realtime": round(sim.timestep / per_step, 1),
        "contacts": int(sim.data.ncon),
    }


def render_fps(sim: GR1TabletopSim, camera: str, width: int, height: int) -> float:
    for _ in range(3):
        sim.render(camera, width, height)
    start = time.perf_counter()
    for _ in range(RENDER_FRAMES):
        sim.render(camera, width, height)
    return round(RENDER_FRAMES / (time.perf_counter() - start), 1)


def main() -> None:
    stack = load_stack()
    config = SimConfig.from_node_parameters(stack.node_parameters("sim"))
    results: dict[str, object] = {
        "machine": f"{platform.machine()} {platform.processor()}".strip(),
        "mujoco": mujoco.__version__,
        **time_builds(config),
    }
    with GR1TabletopSim(stack.robot, config) as sim:
        results.update(time_physics(sim))
        results["mesh_faces"] = int(sim.model.nmeshface)
    for samples in (0, 4):
        with GR1TabletopSim(stack.robot, replace(config, render_msaa_samples=samples)) as sim:
            for width, height in ((224, 224), (640, 480)):
                results[f"render_fps_head_{width}x{height}_msaa{samples}"] = render_fps(sim, "head", width, height)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
