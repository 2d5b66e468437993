"""The console's token: the one in `token_file`, or a generated one (written there when the file is named)."""

from __future__ import annotations

import os
from pathlib import Path

from gr00t_console.protocol import generate_token


def load_token(token_file: str) -> tuple[str, bool]:
    """(token, generated): read `token_file`, or generate (and write it there when named)."""
    if not token_file:
        return generate_token(), True
    path = Path(token_file).expanduser()
    if path.exists():
        token = path.read_text().strip()
        if len(token) < 16:
            raise ValueError(f"token_file {path}: the token must have at least 16 characters")
        return token, False
    token = generate_token()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(token + "\n")
    return token, True
