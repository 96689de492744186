"""Figures of the angle diagnostics: the Figure-1 scatter, histograms, a contact sheet.

Matplotlib (the `plot` extra) is imported by the functions, not with the module, and only
its object API is used (`Figure` + `FigureCanvasAgg`): no global `pyplot` state is touched.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from keras_expface.diagnostics.angles import SampleAngles
from keras_expface.diagnostics.regions import DEFAULT_HIGH, DEFAULT_LOW, check_thresholds
from keras_expface.diagnostics.synthetic import NOISE_KIND_CLEAN
from keras_expface.evaluation._utils import import_optional

#: Colours of the ground-truth kinds; other kinds get the next colours of the cycle.
_KIND_COLORS = {"clean": "0.55", "flip": "tab:green", "type1": "tab:red", "type2": "tab:blue"}
_EXTRA_COLORS = ("tab:orange", "tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan")


def _new_figure(figsize):
    """A `Figure` drawn by the Agg canvas, independent of pyplot and the user's backend."""
    Figure = import_optional("matplotlib.figure", extra="plot").Figure
    FigureCanvasAgg = import_optional("matplotlib.backends.backend_agg", extra="plot")
    figure = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg.FigureCanvasAgg(figure)
    return figure


def _kinds(angles: SampleAngles, noise_kind) -> tuple[np.ndarray, list[str]]:
    """The per-sample kinds ("all" without a truth) and their drawing order."""
    if noise_kind is None:
        return np.full(len(angles), "all"), ["all"]
    kinds = np.asarray(noise_kind).astype(str)
    if kinds.shape != (len(angles),):
        raise ValueError(f"noise_kind must have shape ({len(angles)},); got {kinds.shape}.")
    present = sorted(set(kinds.tolist()))
    # Clean first (drawn below the noise), then the known kinds, then any others.
    order = [kind for kind in _KIND_COLORS if kind in present]
    return kinds, order + [kind for kind in present if kind not in order]


def _color(kind: str, order: list[str]) -> str:
    if kind in _KIND_COLORS:
        return _KIND_COLORS[kind]
    if kind == "all":
        return "tab:blue"
    extras = [other for other in order if other not in _KIND_COLORS]
    return _EXTRA_COLORS[extras.index(kind) % len(_EXTRA_COLORS)]


def plot_angle_scatter(
    angles: SampleAngles,
    path=None,
    noise_kind=None,
    low: float = DEFAULT_LOW,
    high: float = DEFAULT_HIGH,
    title: str | None = None,
):
    """The paper's Figure 1: angle to the own centre against angle to the nearest other.

    Draws one point per sample (x = θ_y, y = θ_other, degrees), the lower-left
    (`θ_y, θ_other < low`, Type-II) and upper-right (`θ_y, θ_other > high`, Type-I) regions
    of `classify_regions` shaded, and the diagonal `θ_y = θ_other` (margin 0: below it a
    sample is closer to another centre than to its own).

    Args:
        angles: The `SampleAngles`.
        path: Image file to save (`.png`, `.pdf`, `.svg`...). Defaults to `None`.
        noise_kind: Optional `(N,)` ground truth ("clean", "flip", "type1", "type2") to
            colour the points by. Defaults to `None` (one colour).
        low: Lower-left threshold, degrees. Defaults to `55.0`.
        high: Upper-right threshold, degrees. Defaults to `87.0`.
        title: Optional title. Defaults to `None`.

    Returns:
        The `matplotlib.figure.Figure`.

    Raises:
        ImportError: If Matplotlib is not installed (`pip install 'keras-expface[plot]'`).

    Example:

    ```python
    angles = sample_angles(embeddings, labels, *head_centers(training_model))
    plot_angle_scatter(angles, "angles.png")
    ```
    """
    low, high = check_thresholds(low, high)
    kinds, order = _kinds(angles, noise_kind)
    figure = _new_figure((5.0, 5.0))
    axes = figure.subplots()
    axes.fill_between([0, low], 0, low, color="tab:blue", alpha=0.08, linewidth=0)
    axes.fill_between([high, 180], high, 180, color="tab:red", alpha=0.08, linewidth=0)
    for threshold in (low, high):
        axes.axvline(threshold, color="0.3", linestyle="--", linewidth=0.8)
        axes.axhline(threshold, color="0.3", linestyle="--", linewidth=0.8)
    axes.plot([0, 180], [0, 180], color="0.3", linestyle=":", linewidth=0.8)
    marker_size = float(np.clip(3000.0 / max(len(angles), 1), 2.0, 25.0))
    for kind in order:
        selected = kinds == kind
        clean_or_all = kind in (NOISE_KIND_CLEAN, "all")
        axes.scatter(
            angles.target_angle[selected],
            angles.nearest_other_angle[selected],
            s=marker_size if clean_or_all else 2 * marker_size,
            alpha=0.5 if clean_or_all else 0.85,
            color=_color(kind, order),
            linewidths=0,
            label=f"{kind} ({int(selected.sum())})",
            rasterized=len(angles) > 5000,
        )
    values = np.concatenate([angles.target_angle, angles.nearest_other_angle, [low, high]])
    lower, upper = max(0.0, values.min() - 5.0), min(180.0, values.max() + 5.0)
    axes.set_xlim(lower, upper)
    axes.set_ylim(lower, upper)
    text = {"fontsize": 7, "color": "0.25"}
    if low > lower:
        axes.text(lower + 1, lower + 1, f"Type-II region\n(both < {low:g}°)", **text)
    if high < upper:
        axes.text(
            upper - 1, upper - 1, f"Type-I region\n(both > {high:g}°)", ha="right", va="top", **text
        )
    axes.set_aspect("equal")
    axes.set_xlabel("angle to own class centre θ_y (degrees)")
    axes.set_ylabel("angle to nearest other centre θ_other (degrees)")
    axes.grid(True, alpha=0.3)
    if noise_kind is not None:
        axes.legend(loc="lower right", fontsize=8)
    if title:
        axes.set_title(title)
    if path is not None:
        figure.savefig(path, dpi=120)
    return figure


def plot_angle_histograms(
    angles: SampleAngles,
    path=None,
    noise_kind=None,
    low: float = DEFAULT_LOW,
    high: float = DEFAULT_HIGH,
    bins: int = 60,
):
    """Histograms of the target and nearest-other angles, one curve per ground-truth kind.

    With `noise_kind`, each kind is a density (area 1), so a few noisy samples stay visible
    beside many clean ones; without, the counts of all samples. The thresholds are drawn.

    Args:
        angles: The `SampleAngles`.
        path: Image file to save. Defaults to `None`.
        noise_kind: Optional `(N,)` ground truth. Defaults to `None`.
        low: Lower-left threshold, degrees. Defaults to `55.0`.
        high: Upper-right threshold, degrees. Defaults to `87.0`.
        bins: Bins over the common angle range. Defaults to `60`.

    Returns:
        The `matplotlib.figure.Figure`.

    Raises:
        ImportError: If Matplotlib is not installed (`pip install 'keras-expface[plot]'`).

    Example:

    ```python
    plot_angle_histograms(angles, "angle_histograms.png", noise_kind=truth)
    ```
    """
    low, high = check_thresholds(low, high)
    kinds, order = _kinds(angles, noise_kind)
    values = np.concatenate([angles.target_angle, angles.nearest_other_angle])
    lower = float(values.min()) if values.size else 0.0
    upper = float(values.max()) if values.size else 180.0
    edges = np.linspace(lower, max(upper, lower + 1.0), bins + 1)
    figure = _new_figure((9.0, 3.6))
    all_axes = figure.subplots(1, 2, sharex=True)
    panels = (
        (angles.target_angle, "angle to own class centre θ_y (degrees)"),
        (angles.nearest_other_angle, "angle to nearest other centre θ_other (degrees)"),
    )
    for axes, (column, xlabel) in zip(all_axes, panels, strict=True):
        for kind in order:
            selected = kinds == kind
            if not selected.any():
                continue
            axes.hist(
                column[selected],
                bins=edges,
                density=noise_kind is not None,
                histtype="step",
                linewidth=1.4,
                color=_color(kind, order),
                label=f"{kind} ({int(selected.sum())})",
            )
        for threshold in (low, high):
            axes.axvline(threshold, color="0.3", linestyle="--", linewidth=0.8)
        axes.set_xlabel(xlabel)
        axes.set_ylabel("density" if noise_kind is not None else "samples")
        axes.grid(True, alpha=0.3)
    if noise_kind is not None:
        all_axes[0].legend(fontsize=8)
    if path is not None:
        figure.savefig(path, dpi=120)
    return figure


def _as_image_batch(images) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(
            f"images must be (N, H, W), (N, H, W, 1) or (N, H, W, 3); got shape {images.shape}."
        )
    if images.dtype != np.uint8:
        raise ValueError(f"images must be uint8 pixels; got dtype {images.dtype}.")
    return images


def contact_sheet(
    images,
    indices: Sequence[int],
    path=None,
    captions: Sequence[str] | None = None,
    columns: int = 8,
    image_inches: float = 1.2,
):
    """A grid of images (e.g. the top suspects) with a small caption under each.

    Args:
        images: uint8 images `(N, H, W)`, `(N, H, W, 1)` (grey) or `(N, H, W, 3)` (RGB).
            Only the selected ones are read, so a memory-mapped array works.
        indices: Indices into `images` to show, in order (e.g. `[s.index for s in suspects]`).
        path: Image file to save. Defaults to `None`.
        captions: Optional caption per shown image (same length as `indices`). Defaults to
            `None` (the index).
        columns: Images per row. Defaults to `8`.
        image_inches: Width of one cell in inches. Defaults to `1.2`.

    Returns:
        The `matplotlib.figure.Figure`.

    Raises:
        ImportError: If Matplotlib is not installed (`pip install 'keras-expface[plot]'`).
        ValueError: On an empty selection, bad shapes, non-uint8 images or indices out of
            range.

    Example:

    ```python
    top = rank_suspects(angles, labels, regions, score, top_k=32)
    contact_sheet(images, [s.index for s in top], "suspects.png",
                  captions=[f"#{s.rank} y={s.label} {s.score:.1f}" for s in top])
    ```
    """
    images = _as_image_batch(images)
    indices = [int(index) for index in indices]
    if not indices:
        raise ValueError("There is no image to show (indices is empty).")
    out_of_range = [index for index in indices if not -images.shape[0] <= index < images.shape[0]]
    if out_of_range:
        raise ValueError(
            f"indices {out_of_range[:5]} are out of range for {images.shape[0]} images."
        )
    if captions is None:
        captions = [str(index) for index in indices]
    captions = list(captions)
    if len(captions) != len(indices):
        raise ValueError(f"captions must hold {len(indices)} entries; got {len(captions)}.")
    if isinstance(columns, bool) or not isinstance(columns, int) or columns < 1:
        raise ValueError(f"columns must be a positive integer; got {columns!r}.")
    columns = min(columns, len(indices))
    rows = -(-len(indices) // columns)
    height, width, channels = images.shape[1:4]
    # One mosaic and one imshow (64 sub-plots would take seconds to draw).
    gap = max(1, width // 16)
    caption_rows = max(8, height // 4)
    cell_h, cell_w = height + caption_rows + gap, width + gap
    mosaic = np.full((rows * cell_h, columns * cell_w, channels), 255, dtype=np.uint8)
    for position, index in enumerate(indices):
        row, column = divmod(position, columns)
        top, left = row * cell_h + caption_rows, column * cell_w
        mosaic[top : top + height, left : left + width] = images[index]
    figure = _new_figure((columns * image_inches, rows * image_inches * cell_h / cell_w))
    figure.set_layout_engine("none")
    axes = figure.add_axes((0, 0, 1, 1))
    axes.set_axis_off()
    if channels == 1:
        axes.imshow(mosaic[..., 0], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    else:
        axes.imshow(mosaic, interpolation="nearest")
    for position, caption in enumerate(captions):
        row, column = divmod(position, columns)
        axes.text(
            column * cell_w + width / 2,
            row * cell_h + caption_rows / 2,
            caption,
            fontsize=5,
            ha="center",
            va="center",
        )
    if path is not None:
        figure.savefig(path, dpi=120)
    return figure
