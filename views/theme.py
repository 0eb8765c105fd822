"""Light and dark looks, colours for types and changes, and SVG icons tinted to the palette.

The window follows the system scheme (``QStyleHints.colorScheme``) unless the user picked
one; :class:`Theme` emits ``changed`` and every view re-reads its colours from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QByteArray, QObject, QPoint, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QGuiApplication, QIcon, QIconEngine, QPainter, QPalette, QPixmap
from PySide6.QtSvg import QSvgRenderer
from PySide6.QtWidgets import QApplication

ICON_DIR = Path(__file__).resolve().parent.parent / "resources" / "icons"

# Categorical colours (Okabe-Ito and Tableau-like), readable on light and dark backgrounds.
_LIGHT_TYPES = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
    "#7f7f7f", "#bcbd22", "#0b5394", "#a61c00", "#38761d", "#b45f06", "#674ea7", "#c27ba0",
]  # fmt: skip
_DARK_TYPES = [
    "#5aa9e6", "#ff6b6b", "#6bd36b", "#ffa94d", "#b197fc", "#d4a373", "#f783ac", "#3bc9db",
    "#ced4da", "#d8e35a", "#74c0fc", "#ff8787", "#8ce99a", "#ffc078", "#d0bfff", "#faa2c1",
]  # fmt: skip

# Metric chart lines: the current branch first (strong), then the others.
_LIGHT_SERIES = ["#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b"]
_DARK_SERIES = ["#ff6b6b", "#5aa9e6", "#6bd36b", "#b197fc", "#ffa94d", "#3bc9db", "#d4a373"]


@dataclass(frozen=True)
class Colors:
    dark: bool
    window: QColor
    base: QColor
    alt_base: QColor
    text: QColor
    muted: QColor
    disabled: QColor
    highlight: QColor
    highlight_text: QColor
    current_bg: QColor
    current_fg: QColor
    cursor: QColor
    added: QColor
    changed: QColor
    removed: QColor
    change_text: QColor
    link: QColor
    error_bg: QColor
    error_fg: QColor
    info_bg: QColor
    types: tuple[QColor, ...]
    edited_bg: QColor
    """Table rows holding an event the branch edited."""
    inserted_bg: QColor
    """Table rows holding an event the branch inserted."""
    series: tuple[QColor, ...]
    """Lines of the metric chart, one per branch (the first is the current branch)."""

    def type_color(self, code: int) -> QColor:
        return self.types[code % len(self.types)] if code >= 0 else self.muted

    def series_color(self, i: int) -> QColor:
        palette = self.series or self.types
        return palette[i % len(palette)]


def make_colors(dark: bool) -> Colors:
    c = QColor
    if dark:
        return Colors(
            dark=True,
            window=c("#202124"),
            base=c("#17181a"),
            alt_base=c("#1e2023"),
            text=c("#e8eaed"),
            muted=c("#9aa0a6"),
            disabled=c("#5f6368"),
            highlight=c("#3d6fb6"),
            highlight_text=c("#ffffff"),
            current_bg=c("#6b5310"),
            current_fg=c("#fff4cc"),
            cursor=c("#ffd34d"),
            added=c("#1e5128"),
            changed=c("#5c4a12"),
            removed=c("#6a1f24"),
            change_text=c("#f1f3f4"),
            link=c("#8ab4f8"),
            error_bg=c("#5c1e1e"),
            error_fg=c("#ffdada"),
            info_bg=c("#1f3a5c"),
            types=tuple(c(x) for x in _DARK_TYPES),
            edited_bg=c("#1d3047"),
            inserted_bg=c("#1c3b22"),
            series=tuple(c(x) for x in _DARK_SERIES),
        )
    return Colors(
        dark=False,
        window=c("#f3f3f3"),
        base=c("#ffffff"),
        alt_base=c("#f7f8fa"),
        text=c("#1f1f1f"),
        muted=c("#6b6b6b"),
        disabled=c("#b4b4b4"),
        highlight=c("#cfe0fb"),
        highlight_text=c("#000000"),
        current_bg=c("#ffe58a"),
        current_fg=c("#000000"),
        cursor=c("#d08700"),
        added=c("#c9f2c7"),
        changed=c("#ffe7a3"),
        removed=c("#ffcdcd"),
        change_text=c("#1f1f1f"),
        link=c("#1a56c4"),
        error_bg=c("#fde2e1"),
        error_fg=c("#7a1010"),
        info_bg=c("#e3eefc"),
        types=tuple(c(x) for x in _LIGHT_TYPES),
        edited_bg=c("#e3eefc"),
        inserted_bg=c("#e2f5e1"),
        series=tuple(c(x) for x in _LIGHT_SERIES),
    )


def _palette(colors: Colors) -> QPalette:
    p = QPalette()
    role, group = QPalette.ColorRole, QPalette.ColorGroup
    p.setColor(role.Window, colors.window)
    p.setColor(role.WindowText, colors.text)
    p.setColor(role.Base, colors.base)
    p.setColor(role.AlternateBase, colors.alt_base)
    p.setColor(role.Text, colors.text)
    p.setColor(role.Button, colors.window)
    p.setColor(role.ButtonText, colors.text)
    p.setColor(role.ToolTipBase, colors.base)
    p.setColor(role.ToolTipText, colors.text)
    p.setColor(role.PlaceholderText, colors.muted)
    p.setColor(role.Highlight, colors.highlight)
    p.setColor(role.HighlightedText, colors.highlight_text)
    p.setColor(role.Link, colors.link)
    p.setColor(role.BrightText, QColor("#ff5555"))
    for r in (role.WindowText, role.Text, role.ButtonText):
        p.setColor(group.Disabled, r, colors.muted)
    if colors.dark:
        p.setColor(role.Light, QColor("#3c4043"))
        p.setColor(role.Midlight, QColor("#303134"))
        p.setColor(role.Mid, QColor("#2a2b2e"))
        p.setColor(role.Dark, QColor("#101113"))
        p.setColor(role.Shadow, QColor("#000000"))
    return p


class Theme(QObject):
    """The current look; ``mode`` is "system", "light" or "dark"."""

    changed = Signal()

    def __init__(self, mode: str = "system", parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._mode = mode if mode in ("system", "light", "dark") else "system"
        hints = QGuiApplication.styleHints()
        self._system = hints.colorScheme()
        self.colors = make_colors(self._is_dark())
        hints.colorSchemeChanged.connect(self._on_system_changed)

    @property
    def mode(self) -> str:
        return self._mode

    def set_mode(self, mode: str) -> None:
        if mode in ("system", "light", "dark") and mode != self._mode:
            self._mode = mode
            self.apply()

    def _is_dark(self) -> bool:
        if self._mode != "system":
            return self._mode == "dark"
        return self._system == Qt.ColorScheme.Dark

    def _on_system_changed(self, scheme: Qt.ColorScheme) -> None:
        self._system = scheme
        if self._mode == "system":
            self.apply()

    def apply(self) -> None:
        """Install the palette on the application and tell the views."""
        self.colors = make_colors(self._is_dark())
        app = QApplication.instance()
        if isinstance(app, QApplication):
            app.setPalette(_palette(self.colors))
        self.changed.emit()

    def icon(self, name: str) -> QIcon:
        return svg_icon(name, self.colors.text, self.colors.disabled)

    def mark_icons(self) -> dict[str, QIcon]:
        """Icons of what a branch did to an event (drawn in their own colours)."""
        return {m: self.icon(f"mark-{m}") for m in ("dropped", "edited", "inserted", "moved")}


class SvgIconEngine(QIconEngine):
    """Renders the SVG at whatever size and device pixel ratio Qt asks for: sharp on
    high-DPI screens, tinted to the palette (the files draw with ``currentColor``)."""

    def __init__(self, svg: str, normal: QColor, disabled: QColor) -> None:
        super().__init__()
        self._svg = svg
        self._normal = normal
        self._disabled = disabled
        self._renderers: dict[str, QSvgRenderer] = {}

    def _renderer(self, mode: QIcon.Mode) -> QSvgRenderer:
        color = self._disabled if mode == QIcon.Mode.Disabled else self._normal
        name = color.name()
        r = self._renderers.get(name)
        if r is None:
            r = QSvgRenderer(QByteArray(self._svg.replace("currentColor", name).encode()))
            self._renderers[name] = r
        return r

    def paint(self, painter: QPainter, rect: QRect, mode: QIcon.Mode, state: QIcon.State) -> None:
        self._renderer(mode).render(painter, QRectF(rect))

    def pixmap(self, size: QSize, mode: QIcon.Mode, state: QIcon.State) -> QPixmap:
        pm = QPixmap(size)
        pm.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pm)
        self.paint(painter, QRect(QPoint(0, 0), size), mode, state)
        painter.end()
        return pm

    def scaledPixmap(
        self, size: QSize, mode: QIcon.Mode, state: QIcon.State, scale: float
    ) -> QPixmap:
        pm = self.pixmap(size * scale, mode, state)
        pm.setDevicePixelRatio(scale)
        return pm

    def clone(self) -> QIconEngine:
        return SvgIconEngine(self._svg, self._normal, self._disabled)


_svg_cache: dict[str, str] = {}


def svg_icon(name: str, color: QColor, disabled: QColor) -> QIcon:
    svg = _svg_cache.get(name)
    if svg is None:
        svg = (ICON_DIR / f"{name}.svg").read_text(encoding="utf-8")
        _svg_cache[name] = svg
    return QIcon(SvgIconEngine(svg, color, disabled))


def app_icon() -> QIcon:
    return QIcon(str(ICON_DIR / "rewind.svg"))
