"""PNG figures. matplotlib is optional (``pip install 'autolik[plot]'``) and imported lazily."""
from __future__ import annotations

from pathlib import Path

from autolik.errors import UsageError


def pyplot():
    """matplotlib.pyplot on the non-interactive Agg backend, or a UsageError naming the extra to install."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UsageError("figures need matplotlib; install it with: pip install 'autolik[plot]'") from None
    return plt


def save(fig, path, title: str | None = None, dpi: int = 90, title_size: int = 10) -> Path:
    """Title, tighten, write the PNG and release the figure."""
    if title:
        fig.suptitle(title, fontsize=title_size)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    pyplot().close(fig)
    return Path(path)
