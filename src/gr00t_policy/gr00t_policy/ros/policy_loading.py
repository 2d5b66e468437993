"""The checkpoint a policy node runs, loaded for the node's device and dtype."""

from __future__ import annotations

from typing import Any

from gr00t_description import StackConfig


def load_node_policy(
    node: Any, stack: StackConfig, model_path: str, device: str, dtype: str, tokenizer_dir: str = ""
) -> Any:
    """The checkpoint a policy node runs ('' = the bundled model), on `device` in `dtype`.

    A device this machine cannot run on or an unknown dtype raises ValueError before any loading.
    """
    from gr00t_policy.policy import Gr00tPolicy, check_device, model_dtype, resolve_model_path

    torch_device, torch_dtype = check_device(device), model_dtype(dtype)
    path = resolve_model_path(model_path)
    node.get_logger().info(f"loading GR00T model from {path} ({dtype} on {device})")
    return Gr00tPolicy.from_pretrained(
        path,
        embodiment=stack.embodiment_tag,
        data_config=stack.data_config,
        device=str(torch_device),
        dtype=torch_dtype,
        tokenizer_dir=tokenizer_dir or None,
    )
