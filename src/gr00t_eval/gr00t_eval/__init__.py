"""gr00t-eval: the GR-1 tabletop benchmark (tasks from `gr00t_sim.tasks`), its statistics and reports."""

from gr00t_eval.evaluation import EvalConfig, EvalRun, build_report, count_limit_interventions, run_library_eval
from gr00t_eval.stats import wilson_interval

__all__ = ["EvalConfig", "EvalRun", "build_report", "count_limit_interventions", "run_library_eval", "wilson_interval"]
