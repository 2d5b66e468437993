"""Evaluation through the ROS nodes (`gr00t-eval --policy node`): the same tasks and report as the
library path, but the policy is the running stack (sim + System 2 + System 1 processes).

Per episode: System 1 is disabled (so no pose held from the previous episode pulls the arm back
after the reset; the goal re-enables it and it ramps from the measured pose, as on start-up),
`gr00t_sim/reset_episode` (ResetEpisode: task, seed) places the scene and returns the
instruction; the instruction (or a neutral one, `blank_instruction`, for the language ablation)
goes to System 1's `ExecuteInstruction` action with timeout = episode seconds; `gr00t_sim/scene_state`
(SceneState) feeds the task's `EpisodeTracker` until success or the episode time is up; `controller_status`
onsets of HOLDING / ESTOPPED / active faults count as safety interventions.

With `sim_realtime_factor` the sim is paced at that many sim seconds per wall second and every node,
the evaluator included, runs on its /clock: System 2's rate, System 1's replanning, timeouts and the
action's length are then sim time, so a slow machine's inference costs less of each episode.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from gr00t_description import StackConfig
from gr00t_eval.evaluation import BLANK_INSTRUCTION, EpisodeFrames, EvalConfig, EvalRun
from gr00t_sim import SimConfig
from gr00t_sim.sim_interfaces import ResetEpisodeClient, subscribe_scene_state
from gr00t_sim.tasks import EpisodeOutcome, SceneObservation, TableLayout, eval_seeds, get_task

# Head-camera frames kept per episode through the nodes (episode seconds; plus the last frame):
# later than the library path's, since System 1 first ramps from the measured pose for ~1 s.
NODE_FRAME_TIMES_S = (1.0, 2.0, 3.0)
_SERVICE_TIMEOUT_S = 30.0  # generous: a loaded 2-core machine answers slowly while models load
_SETTLE_AFTER_RESET_S = 0.2  # scene states stamped within this of the reset request are skipped
_END_OF_ACTION_S = 0.5  # a no_policy_command hold this close (wall s) before the action's result is its end


@dataclass
class _Status:
    wall_s: float
    intervening: bool  # holding / e-stopped / faults active
    faults: tuple[str, ...]


def run_node_eval(
    config: EvalConfig,
    stack: StackConfig,
    startup_timeout_s: float = 180.0,
    log=None,
    progress: Callable[[int], None] | None = None,
) -> EvalRun:
    """Start the sim graph, run every (task, seed) episode through the nodes, stop the graph."""
    import numpy as np
    import rclpy
    from rclpy.action import ActionClient
    from rclpy.context import Context
    from rclpy.executors import MultiThreadedExecutor
    from rclpy.node import Node
    from rclpy.parameter import Parameter
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image

    from gr00t_bringup.graph import GraphOptions, build_graph
    from gr00t_bringup.processes import Graph
    from gr00t_description.ros.qos import LATCHED_QOS
    from gr00t_interfaces.action import ExecuteInstruction
    from gr00t_interfaces.msg import ControllerStatus
    from gr00t_interfaces.srv import SetEnabled

    layout = TableLayout.from_sim_config(SimConfig.from_node_parameters(stack.node_parameters("sim")))
    sim_paced = config.sim_realtime_factor is not None
    specs = build_graph(
        stack,
        "sim",
        GraphOptions(
            model_path=config.model_path,
            use_sim_time=sim_paced,
            realtime_factor=config.sim_realtime_factor,
            console=False,
        ),  # a measurement: no browser console competing for the CPU
    )
    # Action-relative times are reported in sim seconds; on the wall clock a paced sim stretches them.
    wall_to_sim = config.sim_realtime_factor if sim_paced else 1.0
    run = EvalRun(config=config, outcomes=[], node_parameters={spec.name: dict(spec.parameters) for spec in specs})
    started = time.perf_counter()
    context = Context()
    rclpy.init(context=context)
    graph = Graph(specs, log=log)
    # On the sim's clock when the graph is: reset requests are compared with scene-state stamps.
    node = Node("gr00t_eval", context=context, parameter_overrides=[Parameter("use_sim_time", value=sim_paced)])
    lock = threading.Lock()
    scene: list[SceneObservation] = []  # observations of the current episode
    scene_after = [float("inf")]  # accept scene states stamped after this (ROS time, s)
    statuses: list[_Status] = []

    def on_scene(observation: SceneObservation) -> None:
        with lock:
            if observation.time_s >= scene_after[0]:
                scene.append(observation)

    def on_status(msg: ControllerStatus) -> None:
        intervening = msg.state in (ControllerStatus.STATE_HOLDING, ControllerStatus.STATE_ESTOPPED) or bool(
            msg.active_faults
        )
        with lock:
            statuses.append(_Status(time.monotonic(), intervening, tuple(msg.active_faults) or (msg.reason,)))

    latest_image: list[Image | None] = [None]

    def on_image(msg: Image) -> None:
        latest_image[0] = msg  # converted only when a frame is kept

    def grab_frame(frames: list, elapsed_s: float) -> None:
        msg = latest_image[0]
        if msg is not None and msg.encoding == "rgb8":
            rgb = np.frombuffer(msg.data, dtype=np.uint8).reshape(msg.height, msg.width, 3)
            frames.append((elapsed_s, rgb.copy()))  # the message buffer is reused by the next frame

    if config.frame_times_s:
        camera = next(iter(stack.camera_topics().values()))
        node.create_subscription(Image, camera["image"], on_image, qos_profile_sensor_data)
    subscribe_scene_state(node, on_scene)  # relative names: the graph's namespace is the evaluator's
    node.create_subscription(ControllerStatus, stack.topics["controller_status"], on_status, LATCHED_QOS)
    reset_client = ResetEpisodeClient(node, graph.wait_for, _SERVICE_TIMEOUT_S)
    enable_client = node.create_client(SetEnabled, stack.services["set_enabled"])
    action_client = ActionClient(node, ExecuteInstruction, stack.actions["execute_instruction"])
    executor = MultiThreadedExecutor(num_threads=2, context=context)
    executor.add_node(node)
    spin_thread = threading.Thread(target=executor.spin, daemon=True)
    spin_thread.start()

    wait = graph.wait_for

    try:
        deadline = time.monotonic() + startup_timeout_s
        while not (
            action_client.wait_for_server(timeout_sec=0.2)
            and reset_client.wait_for_service(0.2)
            and enable_client.wait_for_service(timeout_sec=0.2)
            and node.get_clock().now().nanoseconds > 0  # on sim time: 0 until /clock arrives
        ):
            if exited := graph.exited():
                raise RuntimeError(f"node(s) exited during start-up: {exited}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the graph was not up after {startup_timeout_s:.0f} s")
        goal_handle = None
        for task_name in config.tasks:
            task = get_task(task_name)
            for seed in eval_seeds(config.episodes_per_task, config.seed_start):
                spec = task.sample(seed, layout)
                if goal_handle is not None:  # stop the previous episode's policy before the reset
                    wait(goal_handle.cancel_goal_async(), _SERVICE_TIMEOUT_S, "cancel")
                    goal_handle = None
                disabled = wait(
                    enable_client.call_async(SetEnabled.Request(enable=False, reason="next evaluation episode")),
                    _SERVICE_TIMEOUT_S,
                    "set_enabled",
                )
                if not disabled.success:
                    raise RuntimeError(f"System 1 refused to disable before {task_name}/{seed}: {disabled.message}")
                request_time = node.get_clock().now().nanoseconds * 1e-9
                response = reset_client.reset(task_name, seed)
                if response.instruction != spec.instruction:
                    raise RuntimeError(f"the sim node sampled a different episode for {task_name}/{seed}")
                with lock:
                    scene.clear()
                    scene_after[0] = request_time + _SETTLE_AFTER_RESET_S
                    statuses_before = len(statuses)
                previous = True
                episode_s = config.episode_seconds if config.episode_seconds is not None else spec.max_duration_s
                goal = ExecuteInstruction.Goal(
                    instruction=BLANK_INSTRUCTION if config.blank_instruction else spec.instruction
                )
                goal.timeout.sec = int(episode_s)
                goal.timeout.nanosec = int(round((episode_s - int(episode_s)) * 1e9))
                goal_sent_wall = time.monotonic()
                goal_handle = wait(action_client.send_goal_async(goal), _SERVICE_TIMEOUT_S, "ExecuteInstruction")
                if not goal_handle.accepted:
                    raise RuntimeError(f"ExecuteInstruction goal rejected for {task_name}/{seed}")
                result_future = goal_handle.get_result_async()
                # Interventions count while the policy runs: the hold that follows the action's end
                # (no_policy_command once System 1 stops; its status may overtake the result) is not one.
                window_end: list[int] = []
                result_wall: list[float] = []

                def on_result(_future, window_end=window_end, result_wall=result_wall) -> None:
                    with lock:
                        window_end.append(len(statuses))
                        result_wall.append(time.monotonic())

                result_future.add_done_callback(on_result)
                tracker = task.tracker(spec, layout)
                wall_deadline = time.monotonic() + episode_s / wall_to_sim * 3 + 10.0  # a slow machine: sim time lags
                consumed = 0
                pending_frames = sorted(config.frame_times_s)
                frames: list = []
                while time.monotonic() < wall_deadline:
                    with lock:
                        fresh, consumed = scene[consumed:], len(scene)
                    for observation in fresh:
                        tracker.update(observation)
                    while pending_frames and tracker.elapsed_s >= pending_frames[0]:
                        grab_frame(frames, tracker.elapsed_s)
                        pending_frames.pop(0)
                    if tracker.succeeded or tracker.elapsed_s >= episode_s:
                        break
                    if result_future.done() and not fresh and tracker.elapsed_s > 0:
                        break  # the action ended (timeout, abort): no more policy to wait for
                    if exited := graph.exited():
                        raise RuntimeError(f"node(s) exited during {task_name}/{seed}: {exited}")
                    time.sleep(0.02)
                if not tracker.succeeded:  # the action times out with the episode: let its result arrive
                    result_deadline = time.monotonic() + 1.0 / wall_to_sim
                    while not result_future.done() and time.monotonic() < result_deadline:
                        time.sleep(0.02)
                if result_future.done():
                    goal_handle = None
                outcome: EpisodeOutcome = tracker.outcome()
                if config.frame_times_s:
                    grab_frame(frames, tracker.elapsed_s)
                    examples = run.examples.setdefault(task_name, {})
                    kind = "success" if outcome.success else "failure"
                    if frames and kind not in examples:
                        examples[kind] = EpisodeFrames(outcome, frames)
                with lock:
                    window = statuses[statuses_before : window_end[0] if window_end else len(statuses)]
                # The window opens at the first status without a hold or fault: the hold left by
                # cancelling the previous episode's goal (no_policy_command) is not an intervention.
                onsets = 0
                opened = False
                for status in window:
                    if not opened:
                        opened = not status.intervening
                        previous = status.intervening
                        continue
                    end_of_action = (
                        status.faults == ("no_policy_command",)
                        and result_wall
                        and status.wall_s >= result_wall[0] - _END_OF_ACTION_S
                    )
                    if status.intervening and not previous and not end_of_action:
                        if onsets == 0:  # when, in the action's time: mid-episode or at its end
                            outcome.extra["first_intervention_at_s"] = (status.wall_s - goal_sent_wall) * wall_to_sim
                        onsets += 1
                        for fault in status.faults:
                            key = f"safety_{fault.split(':')[0].strip().replace(' ', '_')}"
                            outcome.extra[key] = outcome.extra.get(key, 0.0) + 1.0
                    previous = status.intervening
                outcome.safety_interventions = onsets
                if result_wall:
                    outcome.extra["action_result_at_s"] = (result_wall[0] - goal_sent_wall) * wall_to_sim
                outcome.extra["instruction_sent"] = 0.0 if config.blank_instruction else 1.0
                run.outcomes.append(outcome)
                run.sim_time_s += outcome.duration_s
                if progress is not None:
                    progress(len(run.outcomes))
        if goal_handle is not None:
            try:
                wait(goal_handle.cancel_goal_async(), 3.0, "cancel")
            except RuntimeError:
                pass
    finally:
        executor.shutdown()
        spin_thread.join(timeout=5.0)
        node.destroy_node()
        run.exit_codes = graph.shutdown()
        rclpy.try_shutdown(context=context)
    run.wall_time_s = time.perf_counter() - started
    return run
