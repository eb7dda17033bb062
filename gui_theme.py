"""The window's look: colours and fonts of the ttk theme, the icon drawn from icon.svg's path, QR pictures."""

from __future__ import annotations

import re
import tkinter as tk
from dataclasses import dataclass
from tkinter import font as tkfont
from tkinter import ttk

import segno
from PIL import Image, ImageDraw

# -- look ----------------------------------------------------------------------------------------

class Palette:
    """The window's colours, picked to match icon.svg's violet-to-cyan gradient."""

    BG = "#f3f4f9"
    CARD = "#ffffff"
    BORDER = "#dde0ea"
    FIELD_DISABLED = "#f1f2f6"
    TEXT = "#1d2130"
    MUTED = "#667085"
    ACCENT = "#6847f5"
    ACCENT_ACTIVE = "#5532e6"
    ACCENT_DISABLED = "#b9aefb"
    LINK = "#5b3df0"
    DANGER = "#d92d20"
    DANGER_ACTIVE = "#b42318"
    WARN_BG = "#fff5e0"
    WARN_FG = "#8a5200"
    OK = "#079455"
    GRADIENT = ("#7c5cff", "#22d3ee")


FONT_FAMILIES = ("Inter", "Cantarell", "Noto Sans", "Segoe UI", "SF Pro Text", "Ubuntu", "DejaVu Sans",
                 "Liberation Sans", "Helvetica")
MONO_FAMILIES = ("JetBrains Mono", "DejaVu Sans Mono", "Noto Sans Mono", "Consolas", "Menlo", "Liberation Mono",
                 "Courier")


@dataclass
class Fonts:
    """The named fonts the window uses."""

    base: tkfont.Font
    small: tkfont.Font
    heading: tkfont.Font
    title: tkfont.Font
    link: tkfont.Font
    mono: tkfont.Font
    count: tkfont.Font
    button: tkfont.Font


def _first_family(root: tk.Misc, wanted: tuple[str, ...]) -> str:
    available = {family.lower(): family for family in tkfont.families(root)}
    for family in wanted:
        if family.lower() in available:
            return available[family.lower()]
    return wanted[-1]


def apply_theme(root: tk.Tk) -> Fonts:
    """The 'clam' theme with the palette: cards on a soft background, a violet accent."""
    family = _first_family(root, FONT_FAMILIES)
    mono = _first_family(root, MONO_FAMILIES)
    for name in ("TkDefaultFont", "TkTextFont", "TkMenuFont", "TkHeadingFont", "TkCaptionFont"):
        tkfont.nametofont(name, root).configure(family=family, size=10)
    fonts = Fonts(
        base=tkfont.Font(root, family=family, size=10),
        small=tkfont.Font(root, family=family, size=9),
        heading=tkfont.Font(root, family=family, size=11, weight="bold"),
        title=tkfont.Font(root, family=family, size=17, weight="bold"),
        link=tkfont.Font(root, family=family, size=10, underline=True),
        mono=tkfont.Font(root, family=mono, size=10),
        count=tkfont.Font(root, family=family, size=22, weight="bold"),
        button=tkfont.Font(root, family=family, size=10, weight="bold"),
    )
    p = Palette
    root.configure(background=p.BG)
    style = ttk.Style(root)
    style.theme_use("clam")
    style.configure(".", background=p.BG, foreground=p.TEXT, font=fonts.base, bordercolor=p.BORDER,
                    lightcolor=p.CARD, darkcolor=p.BORDER, troughcolor=p.BG, focuscolor=p.ACCENT,
                    selectbackground=p.ACCENT, selectforeground="#ffffff", fieldbackground=p.CARD,
                    insertcolor=p.TEXT)
    style.map(".", foreground=[("disabled", p.MUTED)])
    style.configure("Header.TFrame", background=p.CARD)
    style.configure("Header.TLabel", background=p.CARD)
    style.configure("Title.Header.TLabel", font=fonts.title)
    style.configure("Muted.Header.TLabel", foreground=p.MUTED)
    style.configure("Pill.TLabel", background=p.FIELD_DISABLED, foreground=p.MUTED, font=fonts.button,
                    padding=(12, 5))
    style.configure("Hosting.Pill.TLabel", background="#e3f8ee", foreground=p.OK)
    style.configure("Rule.TFrame", background=p.BORDER)

    style.configure("Card.TFrame", background=p.CARD)
    style.configure("Card.TLabel", background=p.CARD)
    style.map("Card.TLabel", background=[("disabled", p.CARD)])
    style.configure("Heading.Card.TLabel", font=fonts.heading)
    style.configure("Field.Card.TLabel", foreground=p.MUTED, font=fonts.small)
    style.configure("Muted.Card.TLabel", foreground=p.MUTED, font=fonts.small)
    style.configure("Heavy.Card.TLabel", foreground=p.WARN_FG, font=fonts.small)
    style.configure("Count.Card.TLabel", font=fonts.count)
    style.configure("Idle.Count.Card.TLabel", foreground=p.BORDER)
    style.configure("Link.Card.TLabel", foreground=p.LINK, font=fonts.link)
    style.map("Link.Card.TLabel", foreground=[("disabled", p.MUTED)], background=[("disabled", p.CARD)])
    style.configure("Warning.TLabel", background=p.WARN_BG, foreground=p.WARN_FG, font=fonts.small,
                    padding=(10, 7))
    style.configure("Card.TRadiobutton", background=p.CARD, indicatorbackground=p.CARD,
                    indicatorforeground=p.ACCENT, indicatorsize=13, indicatormargin=(0, 1, 6, 1), padding=(0, 3))
    style.map("Card.TRadiobutton", background=[("disabled", p.CARD), ("active", p.CARD)],
              indicatorbackground=[("disabled", p.FIELD_DISABLED), ("pressed", p.BG), ("active", p.CARD)],
              indicatorforeground=[("disabled", p.MUTED)])

    style.configure("TEntry", padding=(8, 5), fieldbackground=p.CARD, lightcolor=p.BORDER)
    style.map("TEntry", fieldbackground=[("disabled", p.FIELD_DISABLED), ("readonly", p.FIELD_DISABLED)],
              lightcolor=[("focus", p.ACCENT)], bordercolor=[("focus", p.ACCENT)])
    style.configure("TSpinbox", padding=(8, 4), fieldbackground=p.CARD, arrowsize=12, lightcolor=p.BORDER,
                    background=p.CARD)
    style.map("TSpinbox", fieldbackground=[("disabled", p.FIELD_DISABLED)],
              lightcolor=[("focus", p.ACCENT)], bordercolor=[("focus", p.ACCENT)])

    style.configure("TButton", padding=(14, 6), background=p.CARD, lightcolor=p.CARD, darkcolor=p.CARD,
                    bordercolor=p.BORDER, focusthickness=0)
    style.map("TButton", background=[("disabled", p.FIELD_DISABLED), ("pressed", p.BORDER), ("active", p.BG)],
              lightcolor=[("pressed", p.BORDER), ("active", p.BG)], darkcolor=[("pressed", p.BORDER),
                                                                               ("active", p.BG)])
    for name, colour, active in (("Accent", p.ACCENT, p.ACCENT_ACTIVE), ("Danger", p.DANGER, p.DANGER_ACTIVE)):
        style.configure(f"{name}.TButton", background=colour, foreground="#ffffff", bordercolor=colour,
                        lightcolor=colour, darkcolor=colour, font=fonts.button, padding=(18, 9))
        style.map(f"{name}.TButton", foreground=[("disabled", "#ffffff")],
                  background=[("disabled", p.ACCENT_DISABLED), ("pressed", active), ("active", active)],
                  bordercolor=[("disabled", p.ACCENT_DISABLED), ("active", active)],
                  lightcolor=[("disabled", p.ACCENT_DISABLED), ("pressed", active), ("active", active)],
                  darkcolor=[("disabled", p.ACCENT_DISABLED), ("pressed", active), ("active", active)])

    style.configure("Status.TLabel", foreground=p.MUTED)
    style.configure("Ok.Status.TLabel", foreground=p.OK)
    style.configure("Error.Status.TLabel", foreground=p.DANGER)
    return fonts


# -- pictures ----------------------------------------------------------------------------------

# The phone glyph of icon.svg, in its 64×64 view box.
PHONE_PATH = ("M22 18c2-2 5-2 6 1l3 6c1 2 0 4-1 5l-3 2c2 5 6 9 11 11l2-3c1-1 3-2 5-1l6 3c3 1 3 4 1 6l-3 3"
              "c-3 3-8 3-13 0-8-5-15-12-19-20-3-5-3-10 0-13z")


def path_polygons(d: str, steps: int = 16) -> list[list[tuple[float, float]]]:
    """Flatten an SVG path made of M, L, C and Z (either case) into polygons."""
    tokens = re.findall(r"[MmLlCcZz]|-?(?:\d+\.?\d*|\.\d+)", d)
    polygons: list[list[tuple[float, float]]] = []
    points: list[tuple[float, float]] = []
    x = y = 0.0
    command = ""
    index = 0
    while index < len(tokens):
        if tokens[index].isalpha():
            command = tokens[index]
            index += 1
            if command in "Zz":
                if points:
                    polygons.append(points)
                points = []
            continue
        relative = command.islower()
        kind = command.upper()
        if kind in "ML":
            nx, ny = float(tokens[index]), float(tokens[index + 1])
            index += 2
            x, y = (x + nx, y + ny) if relative else (nx, ny)
            if kind == "M" and points:
                polygons.append(points)
                points = []
            points.append((x, y))
            if kind == "M":
                command = "l" if relative else "L"
        elif kind == "C":
            values = [float(token) for token in tokens[index:index + 6]]
            index += 6
            if relative:
                values = [v + (x if i % 2 == 0 else y) for i, v in enumerate(values)]
            x1, y1, x2, y2, x3, y3 = values
            x0, y0 = x, y
            for step in range(1, steps + 1):
                t = step / steps
                u = 1 - t
                points.append((u ** 3 * x0 + 3 * u * u * t * x1 + 3 * u * t * t * x2 + t ** 3 * x3,
                               u ** 3 * y0 + 3 * u * u * t * y1 + 3 * u * t * t * y2 + t ** 3 * y3))
            x, y = x3, y3
        else:
            raise ValueError(f"unsupported path command {command!r}")
    if points:
        polygons.append(points)
    return polygons


def _hex_rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def draw_icon(size: int) -> Image.Image:
    """The app icon as in icon.svg: a rounded violet-to-cyan square with a white phone."""
    supersample = 4
    big = size * supersample
    span = 2 * (big - 1) or 1
    ramp = bytes((x + y) * 255 // span for y in range(big) for x in range(big))
    mask = Image.frombytes("L", (big, big), ramp)
    start, end = (Image.new("RGBA", (big, big), _hex_rgb(c) + (255,)) for c in Palette.GRADIENT)
    picture = Image.composite(end, start, mask)
    shape = Image.new("L", (big, big), 0)
    ImageDraw.Draw(shape).rounded_rectangle((0, 0, big - 1, big - 1), radius=big * 16 // 64, fill=255)
    picture.putalpha(shape)
    draw = ImageDraw.Draw(picture)
    for polygon in path_polygons(PHONE_PATH):
        draw.polygon([(px * big / 64, py * big / 64) for px, py in polygon], fill=(255, 255, 255, 255))
    return picture.resize((size, size), Image.Resampling.LANCZOS)


def render_qr(text: str, size: int) -> Image.Image:
    """A QR code of `text` at the largest whole module scale that fits `size` with its quiet zone."""
    code = segno.make_qr(text, error="m")
    rows = [bytes(0 if dark else 255 for dark in row) for row in code.matrix_iter(scale=1, border=0)]
    modules = len(rows)
    small = Image.frombytes("L", (modules, modules), b"".join(rows))
    scale = max(1, size // (modules + 4))
    return small.resize((modules * scale, modules * scale), Image.Resampling.NEAREST)


def tile(size: int, fill: str) -> Image.Image:
    """The rounded square a QR code (or its placeholder) sits on."""
    picture = Image.new("RGB", (size, size), Palette.CARD)
    ImageDraw.Draw(picture).rounded_rectangle((0, 0, size - 1, size - 1), radius=14, fill=fill,
                                              outline=Palette.BORDER)
    return picture
