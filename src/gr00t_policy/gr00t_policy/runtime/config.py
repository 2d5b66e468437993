"""The parameters of the System 1 and System 2 nodes: one frozen dataclass per node.

Each field is one ROS parameter (``declare_config`` declares it with its description and range or
choices, so ``ros2 param describe`` says what it means). The values live in ``nodes.system1`` /
``nodes.system2`` of the stack YAML; nothing here holds a default. The command and goal rates are
not node parameters: they are the stack's ``rates.command_hz`` / ``rates.system2_hz``, which the
evaluation and the benchmarks read too, so the nodes and those readers cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gr00t_description.ros.parameters import parameter

BACKENDS = ("torch", "onnxruntime", "tensorrt")
MODES = ("dual_rate", "fused")
CHUNK_SWITCHES = ("blend", "replace", "rtc")
DTYPES = ("float32", "bfloat16", "float16")
TENSORRT_PRECISIONS = ("fp32", "fp16", "bf16")
TOKEN_DTYPES = ("float32", "float16", "bfloat16")
COMMAND_OUTPUTS = ("joint_state", "joint_trajectory")
_MAX_TIMEOUT_S = 3600.0
_MAX_THREADS = 1024
_MAX_STEPS = 10_000


def _timeout(description: str) -> dict:
    """A watchdog timeout in seconds; 0 turns that watchdog off."""
    return parameter(f"{description}, in seconds (0 = this watchdog off)", 0.0, _MAX_TIMEOUT_S)


@dataclass(frozen=True)
class System1Config:
    """System 1 (``gr00t_system1``): joint states + goal tokens -> action chunks -> joint commands."""

    # -- model and backend
    model_path: str = field(
        metadata=parameter(
            "checkpoint directory or Hugging Face Hub id (org/name[@revision]); '' = the bundled demo model"
        )
    )
    backend: str = field(
        metadata=parameter(
            "action-head inference backend (tensorrt: engines compiled from ONNX, GPU only)", choices=BACKENDS
        )
    )
    compiled_cache_dir: str = field(
        metadata=parameter("where ONNX exports and TensorRT engines are cached; '' = $XDG_CACHE_HOME/gr00t")
    )
    cuda_graph: bool = field(metadata=parameter("torch backend on CUDA: capture the denoising sampler in a CUDA graph"))
    tensorrt_precision: str = field(
        metadata=parameter("precision of the TensorRT engines (backend tensorrt)", choices=TENSORRT_PRECISIONS)
    )
    device: str = field(metadata=parameter("torch device the model runs on (cpu, cuda, cuda:1, ...)"))
    dtype: str = field(metadata=parameter("precision the model is loaded in", choices=DTYPES))
    num_threads: int = field(
        metadata=parameter(
            "torch (and onnxruntime) CPU threads of this process; 0 = the libraries' default", 0, _MAX_THREADS
        )
    )
    gil_switch_interval_s: float = field(
        metadata=parameter(
            "Python's thread switch interval (sys.setswitchinterval), in seconds: the inference thread re-takes "
            "the GIL between torch ops, and with Python's default 5 ms busy callback threads stretch a 4 ms "
            "chunk into hundreds of milliseconds",
            1e-5,
            0.1,
        )
    )
    mode: str = field(
        metadata=parameter(
            "dual_rate: goal tokens from System 2; fused: this node also runs the backbone (System 2's "
            "computation) before every chunk",
            choices=MODES,
        )
    )
    # -- chunks
    replan_every_steps: int = field(
        metadata=parameter(
            "request the next chunk once the active one reached this step; 0 = as fast as inference allows",
            0,
            _MAX_STEPS,
        )
    )
    replan_min_interval_s: float = field(
        metadata=parameter(
            "never start inferences closer than this, in seconds (keeps a shared CPU core for the command "
            "stream); 0 = no cap",
            0.0,
            10.0,
        )
    )
    step_period_s: float = field(
        metadata=parameter("time between two steps of a chunk, in seconds (the training data's rate)", 0.001, 1.0)
    )
    chunk_switch: str = field(
        metadata=parameter(
            "how a new chunk takes over: blend (cross-fade), replace, rtc (guided sampling continues the "
            "running chunk; torch backend)",
            choices=CHUNK_SWITCHES,
        )
    )
    blend_duration_s: float = field(metadata=parameter("cross-fade length of chunk_switch blend, in seconds", 0.0, 5.0))
    execution_horizon_steps: int = field(
        metadata=parameter(
            "execute only the first this-many steps of a chunk, then hold; 0 = the whole chunk", 0, _MAX_STEPS
        )
    )
    command_output: str = field(
        metadata=parameter(
            "joint_state: stream sensor_msgs/JointState positions on joint_command at the command rate; "
            "joint_trajectory: send trajectory_msgs/JointTrajectory on joint_trajectory for a "
            "JointTrajectoryController, each the safety supervisor's forecast of that stream (same limits, "
            "ramp, holds) from now on, re-sent when a chunk is accepted or the state changes; an empty "
            "trajectory (stop) when disabled or e-stopped; no joint_command then",
            choices=COMMAND_OUTPUTS,
        )
    )
    # -- safety supervisor
    goal_timeout_s: float = field(
        metadata=_timeout(
            "no fresh goal tokens for this long -> hold (in fused mode: no goal from camera frames younger than this)"
        )
    )
    goal_lag_timeout_s: float = field(
        metadata=parameter(
            "goal tokens computed from a frame older than the newest camera frame by more than this, in "
            "seconds, do not count as fresh (System 2 stuck)",
            0.0,
            _MAX_TIMEOUT_S,
        )
    )
    joint_state_timeout_s: float = field(
        metadata=parameter(
            "no joint states for this long, in seconds -> hold at once (commanding blind is never allowed)", 0.001, 60.0
        )
    )
    startup_ramp_s: float = field(
        metadata=parameter(
            "minimum ramp time from the current pose to the policy's command (enable, resume), in seconds", 0.0, 60.0
        )
    )
    ramp_max_velocity_rad_s: float = field(
        metadata=parameter(
            "the ramp is lengthened so no joint moves faster than this on average, in rad/s; 0 = fixed duration",
            0.0,
            10.0,
        )
    )
    chunk_timeout_s: float = field(metadata=_timeout("no chunk accepted for this long -> hold"))
    exhausted_timeout_s: float = field(
        metadata=_timeout("executor past the last step of its newest chunk for this long -> hold")
    )
    inference_timeout_s: float = field(metadata=_timeout("one inference running longer than this -> hold"))
    disable_after_s: float = field(metadata=_timeout("holding for this long -> disabled (needs an explicit enable)"))
    resume_after_s: float = field(
        metadata=parameter(
            "faults must stay clear this long before the stream resumes through the ramp, in seconds (no flapping)",
            0.0,
            60.0,
        )
    )
    restart_position_threshold_rad: float = field(
        metadata=parameter(
            "measured pose this far (any joint, rad) from the last command: after a joint-state outage a "
            "controller restart (re-ramp from the measured pose), otherwise a tracking error (hold); 0 = off",
            0.0,
            6.3,
        )
    )
    tracking_error_timeout_s: float = field(
        metadata=parameter("how long the tracking gap must last before the tracking_error hold, in seconds", 0.0, 60.0)
    )
    dry_run: bool = field(metadata=parameter("compute everything, send no joint command"))
    enable_on_start: bool = field(metadata=parameter("enable (hold, then ramp) when the node starts"))
    enable_on_goal: bool = field(metadata=parameter("an ExecuteInstruction goal enables a DISABLED controller"))
    # -- ExecuteInstruction, status
    default_action_timeout_s: float = field(
        metadata=parameter("how long an ExecuteInstruction goal without a timeout runs, in seconds", 0.1, 86400.0)
    )
    max_instruction_bytes: int = field(
        metadata=parameter("instructions longer than this (UTF-8 bytes) are refused", 1, 1_000_000)
    )
    status_period_s: float = field(
        metadata=parameter(
            "ControllerStatus heartbeat period, in seconds (also published on every state or fault change)", 0.01, 60.0
        )
    )
    # -- input checks
    max_stamp_skew_s: float = field(
        metadata=parameter(
            "how far a stamp (joint states, camera frames, goal tokens, chunks) may lie ahead of this node's "
            "clock, and behind it beyond the input's own age limit, in seconds: clock offset between hosts plus "
            "delivery delay. Implausibly stamped inputs are rejected and counted in /diagnostics",
            0.001,
            60.0,
        )
    )
    joint_state_limit_margin_rad: float = field(
        metadata=parameter(
            "joint states further than this (rad) outside a joint's URDF range are rejected as implausible "
            "(a sensor, driver or publisher fault, not a pose)",
            0.0,
            3.2,
        )
    )
    max_image_bytes: int = field(
        metadata=parameter(
            "camera frames larger than this (step x height, bytes) are rejected before they are copied "
            "(fused mode converts frames)",
            1,
            2**31 - 1,
        )
    )


@dataclass(frozen=True)
class System2Config:
    """System 2 (``gr00t_system2``): camera frames + instruction -> goal tokens."""

    model_path: str = field(
        metadata=parameter(
            "checkpoint directory or Hugging Face Hub id (org/name[@revision]); '' = the bundled demo model"
        )
    )
    tokenizer_dir: str = field(metadata=parameter("tokenizer directory; '' = the checkpoint's own"))
    device: str = field(metadata=parameter("torch device the model runs on (cpu, cuda, cuda:1, ...)"))
    dtype: str = field(metadata=parameter("precision the model is loaded in", choices=DTYPES))
    num_threads: int = field(
        metadata=parameter("torch CPU threads of this process; 0 = torch's default", 0, _MAX_THREADS)
    )
    instruction: str = field(
        metadata=parameter("instruction in effect at start-up ('' = none: no goal tokens until one is set)")
    )
    max_instruction_bytes: int = field(
        metadata=parameter("instructions longer than this (UTF-8 bytes) are refused", 1, 1_000_000)
    )
    max_image_age_s: float = field(
        metadata=parameter(
            "camera frames older than this, in seconds, are never used (no goal tokens: System 1 holds)", 0.001, 60.0
        )
    )
    token_dtype: str = field(metadata=parameter("element type of the published goal tokens", choices=TOKEN_DTYPES))
    max_stamp_skew_s: float = field(
        metadata=parameter(
            "how far a camera frame's stamp may lie ahead of this node's clock, and behind it beyond "
            "max_image_age_s, in seconds: clock offset between hosts plus delivery delay. Implausibly stamped "
            "frames are rejected (before conversion) and counted in /diagnostics",
            0.001,
            60.0,
        )
    )
    max_image_bytes: int = field(
        metadata=parameter(
            "camera frames larger than this (step x height, bytes) are rejected before they are copied", 1, 2**31 - 1
        )
    )
