"""The host's desktop window: room settings, Start/Stop, invite links with QR codes, and the public link."""

from __future__ import annotations

import concurrent.futures
import locale
import logging
import os
import queue
import re
import signal
import sys
import tkinter as tk
import webbrowser
from dataclasses import dataclass
from tkinter import font as tkfont
from tkinter import messagebox, ttk
from types import FrameType
from typing import Any, Callable, Coroutine, Mapping

import segno
from PIL import Image, ImageDraw, ImageTk

from async_runner import AsyncRunner
from config import GUI_DEFAULT_TOKEN, TUNNELS, Config, ConfigError, generate_token, is_weak_token
from gui_relay import RELAY_STRINGS, RelayPanel, relay_error_text
from hosting import HostInfo, Hosting, ServerFactory, TunnelFactory

logger = logging.getLogger(__name__)

MIN_GROUP = 3
MAX_GROUP = 12
HEAVY_MESH = 8
TICK_MS = 50
COPIED_MS = 2500
STOP_TIMEOUT = 10.0
LINK_WRAP = 540
PROVIDERS = tuple(name for name in TUNNELS if name != "none")

# -- strings -----------------------------------------------------------------------------------

STRINGS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Secret-Call",
        "subtitle": "Private voice calls, hosted on this computer",
        "pill_idle": "●  Not hosting",
        "pill_busy": "●  Please wait…",
        "port_busy": "Port {port} is busy: another program (or another Secret-Call) uses it. Choose another port.",
        "pill_hosting": "●  Hosting",
        "room": "Room",
        "mode": "Call",
        "mode_pair": "1×1",
        "mode_group": "Group",
        "capacity": "People",
        "mesh_note": "Each browser sends its audio to every other one: past about {n} people "
                     "the call gets heavy on everyone's upload.",
        "port": "Port",
        "listen_on": "on {host}",
        "bad_port": "The port must be a whole number from 0 (any free port) to 65535.",
        "token": "Room token",
        "generate": "Generate",
        "token_warning": "⚠  “123” is the placeholder token: anyone who guesses it can join. "
                         "Generate a strong one before you share a link.",
        "token_short": "⚠  A token shorter than 8 characters is easy to guess: anyone who guesses it can join. "
                       "Generate a strong one before you share a link.",
        "public": "Public link",
        "tunnel_none": "None: reachable from this computer only",
        "tunnel_localhost.run": "localhost.run (through ssh)",
        "tunnel_cloudflared": "cloudflared (Cloudflare quick tunnel)",
        "not_found": "not found on PATH",
        "start": "Start hosting",
        "stop": "Stop hosting",
        "starting": "Starting…",
        "stopping": "Stopping…",
        "status_idle": "Choose the settings, then start hosting.",
        "status_hosting": "Hosting on port {port}. Send the invite link to the people you call.",
        "status_stopped": "Stopped. Nobody can join until you start hosting again.",
        "call": "Your call",
        "participants": "In the call",
        "local": "This computer",
        "invite": "Invite link",
        "open": "Open in browser",
        "copy_invite": "Copy invite link",
        "copy": "Copy",
        "copied": "Copied to the clipboard.",
        "public_link": "Public link",
        "public_off": "Off. Choose a tunnel before you start hosting to get one.",
        "public_waiting": "Waiting for the tunnel…",
        "public_via": "Public address: {url}",
        "qr_invite": "Invite",
        "qr_public": "Public invite",
        "qr_placeholder": "Appears while\nhosting",
        "none": "—",
        "ask_generate_title": "Weak room token",
        "ask_generate": "The room token is weak (shorter than 8 characters), and a public link lets anyone "
                        "on the internet try to join.\n\nGenerate a strong token now?",
        "public_skipped": "The public link was not started: the room token is weak.",
        "open_failed": "Could not open the browser: {error}",
        "tunnel_failed": "Public link: {error}",
        "bad_capacity": "The number of people must be a whole number from {low} to {high}.",
        "confirm_close_title": "End the call?",
        "confirm_close": "People in the call now: {count}.\n\nClosing the window ends the call for everyone. "
                         "Close anyway?",
        "no_tunnel_module": "the tunnel module is missing",
    },
    "ru": {
        "title": "Secret-Call",
        "subtitle": "Приватные голосовые звонки с этого компьютера",
        "pill_idle": "●  Не запущен",
        "pill_busy": "●  Подождите…",
        "port_busy": "Порт {port} занят другой программой (или другим Secret-Call). Выберите другой порт.",
        "pill_hosting": "●  Работает",
        "room": "Комната",
        "mode": "Звонок",
        "mode_pair": "1×1",
        "mode_group": "Группа",
        "capacity": "Участников",
        "mesh_note": "Каждый браузер отправляет звук всем остальным: больше примерно {n} человек — "
                     "тяжёлая нагрузка на исходящий канал у всех.",
        "port": "Порт",
        "listen_on": "на {host}",
        "bad_port": "Порт должен быть целым числом от 0 (любой свободный) до 65535.",
        "token": "Токен комнаты",
        "generate": "Сгенерировать",
        "token_warning": "⚠  «123» — токен по умолчанию: любой, кто его угадает, сможет войти. "
                         "Сгенерируйте надёжный, прежде чем делиться ссылкой.",
        "token_short": "⚠  Токен короче 8 символов легко угадать, а угадавший сможет войти. "
                       "Сгенерируйте надёжный, прежде чем делиться ссылкой.",
        "public": "Публичная ссылка",
        "tunnel_none": "Нет: доступно только с этого компьютера",
        "tunnel_localhost.run": "localhost.run (через ssh)",
        "tunnel_cloudflared": "cloudflared (быстрый туннель Cloudflare)",
        "not_found": "не найден в PATH",
        "start": "Начать звонок",
        "stop": "Остановить",
        "starting": "Запуск…",
        "stopping": "Остановка…",
        "status_idle": "Выберите настройки и начните звонок.",
        "status_hosting": "Сервер работает на порту {port}. Отправьте приглашение собеседникам.",
        "status_stopped": "Остановлено. Никто не сможет войти, пока вы снова не начнёте звонок.",
        "call": "Ваш звонок",
        "participants": "В звонке",
        "local": "Этот компьютер",
        "invite": "Приглашение",
        "open": "Открыть в браузере",
        "copy_invite": "Копировать приглашение",
        "copy": "Копировать",
        "copied": "Скопировано в буфер обмена.",
        "public_link": "Публичная ссылка",
        "public_off": "Выключена. Выберите туннель до начала звонка, чтобы её получить.",
        "public_waiting": "Ожидание туннеля…",
        "public_via": "Публичный адрес: {url}",
        "qr_invite": "Приглашение",
        "qr_public": "Публичное приглашение",
        "qr_placeholder": "Появится после\nзапуска",
        "none": "—",
        "ask_generate_title": "Слабый токен комнаты",
        "ask_generate": "Токен комнаты слабый (короче 8 символов), а по публичной ссылке войти может "
                        "попробовать кто угодно в интернете.\n\nСгенерировать надёжный токен?",
        "public_skipped": "Публичная ссылка не запущена: токен комнаты слабый.",
        "open_failed": "Не удалось открыть браузер: {error}",
        "tunnel_failed": "Публичная ссылка: {error}",
        "bad_capacity": "Число участников должно быть целым, от {low} до {high}.",
        "confirm_close_title": "Завершить звонок?",
        "confirm_close": "Сейчас в звонке: {count}.\n\nЕсли закрыть окно, звонок завершится для всех. "
                         "Всё равно закрыть?",
        "no_tunnel_module": "нет модуля туннеля",
    },
}


def choose_language(env: Mapping[str, str]) -> str:
    """"ru" or "en": SECRET_CALL_LANG first, then LC_ALL, LC_MESSAGES, LANG, then the system locale."""
    candidates = [env.get(name, "") for name in ("SECRET_CALL_LANG", "LC_ALL", "LC_MESSAGES", "LANG")]
    try:
        candidates.append(locale.getlocale()[0] or "")
    except ValueError:
        pass
    for value in candidates:
        if value and value not in ("C", "POSIX") and not value.startswith("C."):
            return "ru" if value.lower().startswith("ru") else "en"
    return "en"


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
    return picture.resize((size, size), Image.LANCZOS)


def render_qr(text: str, size: int) -> Image.Image:
    """A QR code of `text` at the largest whole module scale that fits `size` with its quiet zone."""
    code = segno.make_qr(text, error="m")
    rows = [bytes(0 if dark else 255 for dark in row) for row in code.matrix_iter(scale=1, border=0)]
    modules = len(rows)
    small = Image.frombytes("L", (modules, modules), b"".join(rows))
    scale = max(1, size // (modules + 4))
    return small.resize((modules * scale, modules * scale), Image.NEAREST)


def tile(size: int, fill: str) -> Image.Image:
    """The rounded square a QR code (or its placeholder) sits on."""
    picture = Image.new("RGB", (size, size), Palette.CARD)
    ImageDraw.Draw(picture).rounded_rectangle((0, 0, size - 1, size - 1), radius=14, fill=fill,
                                              outline=Palette.BORDER)
    return picture


class QrCode(ttk.Frame):
    """A QR code of one link with a caption; a grey placeholder while there is no link."""

    def __init__(self, master: tk.Misc, caption: str, placeholder: str, size: int = 168) -> None:
        super().__init__(master, style="Card.TFrame")
        self.size = size
        self.text: str | None = None
        self._photo: ImageTk.PhotoImage | None = None
        self._blank = ImageTk.PhotoImage(tile(size, Palette.FIELD_DISABLED), master=self)
        self.image = tk.Label(self, image=self._blank, text=placeholder, compound="center", bd=0,
                              background=Palette.CARD, foreground=Palette.MUTED)
        self.image.grid(row=0, column=0)
        self.caption = ttk.Label(self, text=caption, style="Muted.Card.TLabel", anchor="center")
        self.caption.grid(row=1, column=0, pady=(6, 0))

    def show(self, text: str | None, caption: str | None = None) -> None:
        if caption is not None:
            self.caption.configure(text=caption)
        if text == self.text:
            return
        self.text = text
        if text is None:
            self._photo = None
            self.image.configure(image=self._blank, compound="center")
            return
        picture = tile(self.size, "#ffffff")
        code = render_qr(text, self.size)
        offset = (self.size - code.width) // 2
        picture.paste(code, (offset, offset))
        self._photo = ImageTk.PhotoImage(picture, master=self)
        self.image.configure(image=self._photo, compound="none")


class Card(tk.Frame):
    """A white panel with a thin border and a heading; its widgets go in `body`."""

    def __init__(self, master: tk.Misc, title: str) -> None:
        super().__init__(master, background=Palette.CARD, highlightthickness=1, highlightbackground=Palette.BORDER,
                         highlightcolor=Palette.BORDER, bd=0)
        ttk.Label(self, text=title, style="Heading.Card.TLabel").pack(anchor="w", padx=20, pady=(12, 6))
        self.body = ttk.Frame(self, style="Card.TFrame", padding=(20, 0, 20, 16))
        self.body.pack(fill="both", expand=True)


def wrap_to_width(label: ttk.Label, inset: int = 0) -> None:
    """Wrap a label's text at the width its column gives it, which the fields around it decide."""
    label.configure(wraplength=240)
    label.bind("<Configure>", lambda event: label.configure(wraplength=max(120, event.width - inset)))


class LinkLabel(ttk.Label):
    """A label styled as a link: a click opens its URL; empty text shows a dash and does nothing."""

    def __init__(self, master: tk.Misc, open_url: Callable[[str], Any], wraplength: int = 420) -> None:
        super().__init__(master, style="Link.Card.TLabel", text=STRINGS["en"]["none"], wraplength=wraplength,
                         cursor="hand2")
        self.url: str | None = None
        self._open_url = open_url
        self.bind("<Button-1>", self._clicked)
        self.show(None)

    def show(self, url: str | None) -> None:
        self.url = url
        self.configure(text=url or STRINGS["en"]["none"], cursor="hand2" if url else "",
                       style="Link.Card.TLabel" if url else "Muted.Card.TLabel")

    def _clicked(self, event: tk.Event | None = None) -> None:
        if self.url:
            self._open_url(self.url)


# -- the window ----------------------------------------------------------------------------------

class Inbox:
    """Calls posted from any thread, run later on Tk's thread by drain()."""

    def __init__(self, on_error: Callable[[Exception], None]) -> None:
        self._on_error = on_error
        self._queue: queue.SimpleQueue[tuple[Callable[..., Any], tuple[Any, ...]]] = queue.SimpleQueue()

    def post(self, function: Callable[..., Any], *args: Any) -> None:
        self._queue.put((function, args))

    def drain(self) -> None:
        while True:
            try:
                function, args = self._queue.get_nowait()
            except queue.Empty:
                return
            try:
                function(*args)
            except Exception as error:  # one failed update must not stop the ones after it
                self._on_error(error)


Ask = Callable[..., bool]

IDLE, STARTING, HOSTING, STOPPING = "idle", "starting", "hosting", "stopping"


class HostWindow:
    """The host's window. Tk is touched only here, on the main thread; the server runs on `runner`'s loop."""

    def __init__(self, root: tk.Tk, config: Config, runner: AsyncRunner, *, server_factory: ServerFactory,
                 tunnel_factory: TunnelFactory | None = None,
                 tunnel_problem: Callable[[str], str | None] = lambda provider: None,
                 language: str = "en", open_url: Callable[[str], Any] = webbrowser.open,
                 ask_yes_no: Ask = messagebox.askyesno, turnserver_problem: str | None = None) -> None:
        self.root = root
        self.config = config
        self.runner = runner
        self.language = language
        self.turnserver_problem = turnserver_problem
        self.text = STRINGS[language]
        self.open_url = open_url
        self.ask_yes_no = ask_yes_no
        self.inbox = Inbox(on_error=lambda error: root.report_callback_exception(type(error), error,
                                                                                 error.__traceback__))
        self.session = Hosting(server_factory, tunnel_factory,
                               on_public=lambda url, invite: self.inbox.post(self._show_public, url, invite),
                               on_tunnel_status=lambda text: self.inbox.post(self._show_tunnel_status, text),
                               on_participants=lambda count: self.inbox.post(self._participants_changed, count))
        self.phase = IDLE
        self.info: HostInfo | None = None
        self.public_invite: str | None = None
        self._early_public: tuple[str | None, str | None] | None = None
        self.participant_count = 0
        self.closed = False
        self._shutdown_requested = False
        self._status_before = ("", "Status.TLabel")
        self._tick_id: str | None = None
        self._copied_id: str | None = None
        self._tunnel_problems = {provider: tunnel_problem(provider) for provider in PROVIDERS}

        self.fonts = apply_theme(root)
        root.title(self.text["title"])
        self._icons = [ImageTk.PhotoImage(draw_icon(size), master=root) for size in (64, 32, 16)]
        root.iconphoto(True, *self._icons)
        root.protocol("WM_DELETE_WINDOW", self.request_close)
        self._build()
        self._load_settings(config)
        self._set_phase(IDLE)
        self._show_status(self.text["status_idle"])
        root.update_idletasks()
        root.minsize(root.winfo_reqwidth(), root.winfo_reqheight())
        self._tick_id = root.after(TICK_MS, self._tick)

    # -- layout --------------------------------------------------------------------------------

    def _build(self) -> None:
        t = self.text
        root = self.root
        root.columnconfigure(0, weight=1)
        root.rowconfigure(2, weight=1)

        header = ttk.Frame(root, style="Header.TFrame", padding=(24, 12))
        header.grid(row=0, column=0, sticky="ew")
        header.columnconfigure(1, weight=1)
        self._logo = ImageTk.PhotoImage(draw_icon(44), master=root)
        tk.Label(header, image=self._logo, bd=0, background=Palette.CARD).grid(row=0, column=0, rowspan=2,
                                                                               padx=(0, 14))
        ttk.Label(header, text=t["title"], style="Title.Header.TLabel").grid(row=0, column=1, sticky="sw")
        ttk.Label(header, text=t["subtitle"], style="Muted.Header.TLabel").grid(row=1, column=1, sticky="nw")
        self.pill = ttk.Label(header, style="Pill.TLabel")
        self.pill.grid(row=0, column=2, rowspan=2)
        ttk.Frame(root, style="Rule.TFrame", height=1).grid(row=1, column=0, sticky="ew")

        body = ttk.Frame(root, padding=(20, 16, 20, 18))
        body.grid(row=2, column=0, sticky="nsew")
        body.columnconfigure(0, weight=0)
        body.columnconfigure(1, weight=1, minsize=LINK_WRAP + 50)
        body.rowconfigure(0, weight=1)
        left = ttk.Frame(body)
        left.grid(row=0, column=0, sticky="nsew", padx=(0, 18))
        left.columnconfigure(0, weight=1)
        right = ttk.Frame(body)
        right.grid(row=0, column=1, sticky="nsew")
        right.columnconfigure(0, weight=1)
        right.rowconfigure(0, weight=1)

        self._build_room(left)
        self._build_public_settings(left)
        self._build_controls(left)
        self._build_call(right)

    def _caption(self, parent: tk.Misc, text: str, row: int, top: int = 12) -> ttk.Label:
        label = ttk.Label(parent, text=text, style="Field.Card.TLabel")
        label.grid(row=row, column=0, sticky="w", pady=(top, 4))
        return label

    def _build_room(self, parent: ttk.Frame) -> None:
        t = self.text
        card = Card(parent, t["room"])
        card.grid(row=0, column=0, sticky="ew")
        box = card.body
        box.columnconfigure(0, weight=1)

        self._caption(box, t["mode"], 0, top=0)
        modes = ttk.Frame(box, style="Card.TFrame")
        modes.grid(row=1, column=0, sticky="w")
        self.mode_var = tk.StringVar(self.root, "pair")
        self.pair_radio = ttk.Radiobutton(modes, text=t["mode_pair"], value="pair", variable=self.mode_var,
                                          style="Card.TRadiobutton", command=self._mode_changed)
        self.pair_radio.grid(row=0, column=0, padx=(0, 18))
        self.group_radio = ttk.Radiobutton(modes, text=t["mode_group"], value="group", variable=self.mode_var,
                                           style="Card.TRadiobutton", command=self._mode_changed)
        self.group_radio.grid(row=0, column=1, padx=(0, 10))
        self.capacity_var = tk.StringVar(self.root, str(MIN_GROUP + 1))
        self.capacity_label = ttk.Label(modes, text=t["capacity"], style="Card.TLabel")
        self.capacity_label.grid(row=0, column=2, padx=(6, 8))
        self.capacity_spin = ttk.Spinbox(modes, from_=MIN_GROUP, to=MAX_GROUP, width=4, wrap=False,
                                         textvariable=self.capacity_var, font=self.fonts.base,
                                         command=self._capacity_changed)
        self.capacity_spin.grid(row=0, column=3)
        self.capacity_var.trace_add("write", lambda *_: self._capacity_changed())
        self.mesh_note = ttk.Label(box, text=t["mesh_note"].format(n=HEAVY_MESH), style="Muted.Card.TLabel",
                                   justify="left")
        self.mesh_note.grid(row=2, column=0, sticky="ew", pady=(6, 0))
        wrap_to_width(self.mesh_note)

        self._caption(box, t["token"], 3)
        token_row = ttk.Frame(box, style="Card.TFrame")
        token_row.grid(row=4, column=0, sticky="ew")
        token_row.columnconfigure(0, weight=1)
        self.token_var = tk.StringVar(self.root, GUI_DEFAULT_TOKEN)
        self.token_entry = ttk.Entry(token_row, textvariable=self.token_var, font=self.fonts.mono, width=26)
        self.token_entry.grid(row=0, column=0, sticky="ew")
        self.generate_button = ttk.Button(token_row, text=t["generate"], command=self.generate_token)
        self.generate_button.grid(row=0, column=1, padx=(8, 0))
        self.token_warning = ttk.Label(box, text=t["token_warning"], style="Warning.TLabel", justify="left")
        self.token_warning.grid(row=5, column=0, sticky="ew", pady=(10, 0))
        wrap_to_width(self.token_warning, inset=20)
        self.token_var.trace_add("write", lambda *_: self._token_changed())

        network = ttk.Frame(box, style="Card.TFrame")  # the port, and beside it the relay part
        network.grid(row=6, column=0, sticky="w")
        self._caption(network, t["port"], 0)
        port_row = ttk.Frame(network, style="Card.TFrame")
        port_row.grid(row=1, column=0, sticky="w")
        self.port_var = tk.StringVar(self.root, "")
        self.port_entry = ttk.Entry(port_row, textvariable=self.port_var, font=self.fonts.mono, width=7)
        self.port_entry.grid(row=0, column=0)
        self.host_label = ttk.Label(port_row, text=t["listen_on"].format(host=self.config.host),
                                    style="Muted.Card.TLabel")
        self.host_label.grid(row=0, column=1, padx=(10, 0))
        self.relay_panel = RelayPanel(network, 1, config=self.config, language=self.language,
                                      turnserver_problem=self.turnserver_problem, mono=self.fonts.mono,
                                      palette=Palette)

    def _build_public_settings(self, parent: ttk.Frame) -> None:
        t = self.text
        card = Card(parent, t["public"])
        card.grid(row=1, column=0, sticky="ew", pady=(16, 0))
        box = card.body
        self.tunnel_var = tk.StringVar(self.root, "none")
        self.tunnel_radios: dict[str, ttk.Radiobutton] = {}
        for row, provider in enumerate(("none", *PROVIDERS)):
            label = t[f"tunnel_{provider}"]
            problem = self._tunnel_problems.get(provider)
            if problem:
                label = f"{label}  —  {problem}"
            radio = ttk.Radiobutton(box, text=label, value=provider, variable=self.tunnel_var,
                                    style="Card.TRadiobutton")
            radio.grid(row=row, column=0, sticky="w")
            self.tunnel_radios[provider] = radio

    def _build_controls(self, parent: ttk.Frame) -> None:
        controls = ttk.Frame(parent)
        controls.grid(row=2, column=0, sticky="ew", pady=(18, 0))
        controls.columnconfigure(0, weight=1)
        self.start_button = ttk.Button(controls, style="Accent.TButton", command=self.toggle)
        self.start_button.grid(row=0, column=0, sticky="ew")
        self.status_var = tk.StringVar(self.root)
        self.status_label = ttk.Label(controls, textvariable=self.status_var, style="Status.TLabel", justify="left")
        self.status_label.grid(row=1, column=0, sticky="ew", pady=(10, 0))
        wrap_to_width(self.status_label)

    def _build_call(self, parent: ttk.Frame) -> None:
        t = self.text
        card = Card(parent, t["call"])
        card.grid(row=0, column=0, sticky="nsew")
        box = card.body
        box.columnconfigure(0, weight=1)

        count = ttk.Frame(box, style="Card.TFrame")
        count.grid(row=0, column=0, sticky="w")
        self.participants_var = tk.StringVar(self.root, t["none"])
        self.participants_label = ttk.Label(count, textvariable=self.participants_var,
                                            style="Idle.Count.Card.TLabel")
        self.participants_label.grid(row=0, column=0, sticky="w")
        ttk.Label(count, text=t["participants"], style="Muted.Card.TLabel").grid(row=0, column=1, sticky="sw",
                                                                                 padx=(10, 0), pady=(0, 7))

        self._caption(box, t["local"], 1, top=8)
        self.local_link = LinkLabel(box, self.open_link, wraplength=LINK_WRAP)
        self.local_link.grid(row=2, column=0, sticky="w")
        self._caption(box, t["invite"], 3)
        self.invite_link = LinkLabel(box, self.open_link, wraplength=LINK_WRAP)
        self.invite_link.grid(row=4, column=0, sticky="w")
        buttons = ttk.Frame(box, style="Card.TFrame")
        buttons.grid(row=5, column=0, sticky="w", pady=(10, 0))
        self.open_button = ttk.Button(buttons, text=t["open"], command=self.open_invite)
        self.open_button.grid(row=0, column=0, padx=(0, 8))
        self.copy_invite_button = ttk.Button(buttons, text=t["copy_invite"],
                                             command=lambda: self.copy(self.invite_link.url))
        self.copy_invite_button.grid(row=0, column=1)

        self._caption(box, t["public_link"], 6, top=14)
        self.public_link = LinkLabel(box, self.open_link, wraplength=LINK_WRAP)
        self.public_link.grid(row=7, column=0, sticky="w")
        public = ttk.Frame(box, style="Card.TFrame")
        public.grid(row=8, column=0, sticky="w", pady=(6, 0))
        self.copy_public_button = ttk.Button(public, text=t["copy"], command=lambda: self.copy(self.public_link.url))
        self.copy_public_button.grid(row=0, column=0, padx=(0, 10))
        self.copy_public_button.grid_remove()
        self.tunnel_status_var = tk.StringVar(self.root, t["public_off"])
        self.tunnel_status = ttk.Label(public, textvariable=self.tunnel_status_var, style="Muted.Card.TLabel",
                                       wraplength=LINK_WRAP - 100, justify="left")
        self.tunnel_status.grid(row=0, column=1, sticky="w")

        codes = ttk.Frame(box, style="Card.TFrame")
        codes.grid(row=9, column=0, pady=(16, 0))
        self.invite_qr = QrCode(codes, t["qr_invite"], t["qr_placeholder"])
        self.invite_qr.grid(row=0, column=0, padx=(0, 28))
        self.public_qr = QrCode(codes, t["qr_public"], t["qr_placeholder"])
        self.public_qr.grid(row=0, column=1)
        self.relay_panel.attach_status(box, 10, wraplength=LINK_WRAP)

    # -- settings ------------------------------------------------------------------------------

    def _load_settings(self, config: Config) -> None:
        self.token_var.set(config.token)
        self.port_var.set(str(config.port))
        if config.capacity > 2:
            self.mode_var.set("group")
            if config.capacity > MAX_GROUP:
                self.capacity_spin.configure(to=config.capacity)
            self.capacity_var.set(str(config.capacity))
        if config.tunnel in PROVIDERS and not self._tunnel_problems.get(config.tunnel):
            self.tunnel_var.set(config.tunnel)
        self.relay_panel.load(config)
        self._token_changed()
        self._capacity_changed()

    def _token_changed(self) -> None:
        token = self.token_var.get().strip()
        if is_weak_token(token):
            key = "token_warning" if token == GUI_DEFAULT_TOKEN else "token_short"
            self.token_warning.configure(text=self.text[key])
            self.token_warning.grid()
        else:
            self.token_warning.grid_remove()

    def _mode_changed(self) -> None:
        self._set_phase(self.phase)
        self._capacity_changed()

    def _capacity_changed(self) -> None:
        if self.mode_var.get() != "group":
            self.mesh_note.grid_remove()
            return
        self.mesh_note.grid()
        try:
            heavy = int(self.capacity_var.get()) > HEAVY_MESH
        except ValueError:
            heavy = False
        self.mesh_note.configure(style="Heavy.Card.TLabel" if heavy else "Muted.Card.TLabel")

    def generate_token(self) -> None:
        self.token_var.set(generate_token())

    def read_settings(self) -> Config:
        """The config the fields describe; raises ConfigError with a message for the user."""
        capacity = 2
        if self.mode_var.get() == "group":
            high = max(MAX_GROUP, self.config.capacity)
            try:
                capacity = int(self.capacity_var.get().strip())
            except ValueError:
                capacity = 0
            if not MIN_GROUP <= capacity <= high:
                raise ConfigError(self.text["bad_capacity"].format(low=MIN_GROUP, high=high))
        try:
            port = int(self.port_var.get().strip())
        except ValueError:
            port = -1
        if not 0 <= port <= 65535:  # 0 picks a free port, as on the command line
            raise ConfigError(self.text["bad_port"])
        return self.relay_panel.apply(self.config.with_changes(token=self.token_var.get().strip(), capacity=capacity,
                                                               port=port, tunnel=self.tunnel_var.get()))

    # -- hosting -------------------------------------------------------------------------------

    def toggle(self) -> None:
        if self.phase == IDLE:
            self.start()
        elif self.phase == HOSTING:
            self.stop()

    def start(self) -> None:
        """Start hosting with what the fields say; the result comes back through the inbox."""
        if self.phase != IDLE or self.closed:
            return
        try:
            config = self.read_settings()
        except ConfigError as error:
            self._show_status(str(error), "error")
            return
        provider = config.tunnel
        note = None
        if provider != "none" and is_weak_token(config.token):
            if self.ask_yes_no(self.text["ask_generate_title"], self.text["ask_generate"], parent=self.root):
                self.generate_token()
                config = config.with_changes(token=self.token_var.get())
            else:
                provider, note = "none", self.text["public_skipped"]
                config = config.with_changes(tunnel="none")
        self._set_phase(STARTING)
        self._show_status(self.text["starting"])
        self._submit(self.session.start(config, provider),
                     lambda future: self._started(future, provider, note, config))

    def _started(self, future: concurrent.futures.Future[HostInfo], provider: str, note: str | None,
                 config: Config) -> None:
        try:
            info = future.result()
        except Exception as error:  # ServerError, ConfigError or worse: the window says it, not only the console
            logger.warning("hosting did not start: %s", error)
            self._set_phase(IDLE)
            self._early_public = None
            if getattr(error, "code", None) == "port-busy":
                message = self.text["port_busy"].format(port=self.port_var.get())
            else:
                message = (relay_error_text(error, self.language, self.relay_panel.port_var.get())
                           or str(error) or type(error).__name__)
            self._show_status(message, "error")
            return
        self.info = info
        self._set_phase(HOSTING)
        t = self.text
        self.local_link.show(info.local_url)
        self.invite_link.show(info.invite_url)
        self.invite_qr.show(info.invite_url)
        self._show_participants(0)
        self.relay_panel.hosting(config, info.relay_status)
        if info.tunnel_error:
            self.tunnel_status_var.set(t["tunnel_failed"].format(error=info.tunnel_error))
            self._show_status(t["tunnel_failed"].format(error=info.tunnel_error), "error")
        else:
            self.tunnel_status_var.set(t["public_off"] if provider == "none" else t["public_waiting"])
            if note:
                self._show_status(note, "error")
            else:
                self._show_status(t["status_hosting"].format(port=info.port), "ok")
        early, self._early_public = self._early_public, None
        if early is not None:
            self._show_public(*early)

    def stop(self) -> None:
        if self.phase != HOSTING:
            return
        self._set_phase(STOPPING)
        self._show_status(self.text["stopping"])
        self._submit(self.session.stop(), self._stopped)

    def _stopped(self, future: concurrent.futures.Future[None]) -> None:
        self._clear_call()
        self._set_phase(IDLE)
        try:
            future.result()
        except Exception as error:
            logger.warning("stopping failed: %s", error)
            self._show_status(str(error), "error")
        else:
            self._show_status(self.text["status_stopped"])

    def _clear_call(self) -> None:
        self._early_public = None
        self.info = None
        self.participant_count = 0
        self.participants_var.set(self.text["none"])
        self.participants_label.configure(style="Idle.Count.Card.TLabel")
        self.local_link.show(None)
        self.invite_link.show(None)
        self.invite_qr.show(None)
        self._show_public(None, None, force=True)
        self.tunnel_status_var.set(self.text["public_off"])
        self.relay_panel.clear()

    def _show_public(self, url: str | None, invite: str | None, force: bool = False) -> None:
        if self.phase == STARTING and not force:
            # The tunnel can report its address before the start's own answer reaches Tk: keep it for _started.
            self._early_public = (url, invite)
            return
        if self.phase != HOSTING and not force:
            return
        self.public_invite = invite
        self.relay_panel.set_public(bool(invite))
        self.public_link.show(invite)
        self.public_qr.show(invite)
        if invite:
            self.copy_public_button.grid()
            self.tunnel_status_var.set(self.text["public_via"].format(url=url))
        else:
            self.copy_public_button.grid_remove()
            if not force:
                self.tunnel_status_var.set(self.text["public_waiting"])

    def _show_tunnel_status(self, text: str) -> None:
        if self.phase == HOSTING and not self.public_invite:
            self.tunnel_status_var.set(text)

    def _participants_changed(self, count: int) -> None:
        if self.phase == HOSTING:
            self._show_participants(count)

    def _show_participants(self, count: int) -> None:
        self.participant_count = count
        capacity = self.info.capacity if self.info else 0
        self.participants_var.set(f"{count} / {capacity}")
        self.participants_label.configure(style="Count.Card.TLabel")

    def _set_phase(self, phase: str) -> None:
        self.phase = phase
        t = self.text
        editable = phase == IDLE
        field_state = ["!disabled"] if editable else ["disabled"]
        for widget in (self.pair_radio, self.group_radio, self.token_entry, self.generate_button, self.port_entry):
            widget.state(field_state)
        self.relay_panel.set_editable(editable)
        group = editable and self.mode_var.get() == "group"
        self.capacity_spin.state(["!disabled"] if group else ["disabled"])
        self.capacity_label.state(["!disabled"] if group else ["disabled"])
        for provider, radio in self.tunnel_radios.items():
            radio.state(["!disabled"] if editable and not self._tunnel_problems.get(provider) else ["disabled"])
        hosting = phase == HOSTING
        self.start_button.configure(text={IDLE: t["start"], STARTING: t["starting"], HOSTING: t["stop"],
                                          STOPPING: t["stopping"]}[phase],
                                    style="Danger.TButton" if phase in (HOSTING, STOPPING) else "Accent.TButton")
        self.start_button.state(["!disabled"] if phase in (IDLE, HOSTING) else ["disabled"])
        for button in (self.open_button, self.copy_invite_button):
            button.state(["!disabled"] if hosting else ["disabled"])
        self.pill.configure(text=t["pill_hosting"] if hosting else t["pill_idle"] if phase == IDLE
                            else t["pill_busy"], style="Hosting.Pill.TLabel" if hosting else "Pill.TLabel")

    def _show_status(self, text: str, kind: str = "info") -> None:
        self.status_var.set(text)
        self.status_label.configure(style={"ok": "Ok.Status.TLabel", "error": "Error.Status.TLabel"}.get(
            kind, "Status.TLabel"))

    # -- links -----------------------------------------------------------------------------------

    def open_link(self, url: str) -> None:
        """Open `url` in the browser; a link with the token goes through a one-time local link instead.

        The browser's command line can be read by every user of this computer, so the token must not
        be on it (the local page js/open.js trades the code for the invite).
        """
        self._submit(self.session.one_time_link(url), self._open_when_ready)

    def _open_when_ready(self, future: concurrent.futures.Future[str]) -> None:
        try:
            self.open_url(future.result())
        except Exception as error:  # no browser, or the server stopped meanwhile: say so, keep going
            logger.warning("could not open the browser: %s", error)
            self._show_status(self.text["open_failed"].format(error=error), "error")

    def open_invite(self) -> None:
        if self.invite_link.url:
            self.open_link(self.invite_link.url)

    def copy(self, text: str | None) -> None:
        if not text:
            return
        self.root.clipboard_clear()
        self.root.clipboard_append(text)
        if self.status_var.get() != self.text["copied"]:
            self._status_before = (self.status_var.get(), str(self.status_label.cget("style")))
        self._show_status(self.text["copied"], "ok")
        if self._copied_id is not None:
            self.root.after_cancel(self._copied_id)
        self._copied_id = self.root.after(COPIED_MS, self._restore_status)

    def _restore_status(self) -> None:
        self._copied_id = None
        if not self.closed and self.status_var.get() == self.text["copied"]:
            text, style = self._status_before
            self.status_var.set(text)
            self.status_label.configure(style=style)

    # -- plumbing --------------------------------------------------------------------------------

    def _submit(self, coro: Coroutine[Any, Any, Any], done: Callable[[concurrent.futures.Future[Any]], None]) -> None:
        future = self.runner.submit(coro)
        future.add_done_callback(lambda finished: self.inbox.post(done, finished))

    def _tick(self) -> None:
        """Drains the inbox; also gives Python a moment, in which its signal handlers can run."""
        self._tick_id = None
        if self.closed:
            return
        self.inbox.drain()
        if self._shutdown_requested:
            self.shutdown()
            return
        self._tick_id = self.root.after(TICK_MS, self._tick)

    def request_shutdown(self) -> None:
        """Safe from a signal handler: the next tick shuts down without asking."""
        self._shutdown_requested = True

    def request_close(self) -> None:
        """The window's close button: ask first only while people are in the call."""
        if self.closed:
            return
        if self.phase != IDLE:
            try:
                count = self.runner.run(self.session.participant_count(), timeout=2)
            except Exception:
                count = self.participant_count
            if count > 0 and not self.ask_yes_no(self.text["confirm_close_title"],
                                                 self.text["confirm_close"].format(count=count),
                                                 parent=self.root, icon="warning"):
                return
        self.shutdown()

    def shutdown(self) -> None:
        """Stop the tunnel and the server, then destroy the window. Idempotent."""
        if self.closed:
            return
        self.closed = True
        for after_id in (self._tick_id, self._copied_id):
            if after_id is not None:
                self.root.after_cancel(after_id)
        self._tick_id = self._copied_id = None
        try:
            self.root.withdraw()
        except tk.TclError:
            pass
        try:
            self.runner.run(self.session.stop(), timeout=STOP_TIMEOUT)
        except Exception as error:
            logger.warning("stopping on exit failed: %s", error)
        try:
            self.root.destroy()
        except tk.TclError:
            pass


# -- wiring --------------------------------------------------------------------------------------

def create_window(root: tk.Tk, config: Config, runner: AsyncRunner, *,
                  env: Mapping[str, str] | None = None) -> HostWindow:
    """A HostWindow wired to the real CallServer and Tunnel (imported here, so the window class needs neither)."""
    from core import CallServer

    env = os.environ if env is None else env
    language = choose_language(env)
    try:
        import tunnel as tunnel_module
    except ImportError as error:
        logger.warning("public links are unavailable: %s", error)
        return HostWindow(root, config, runner, server_factory=CallServer, language=language,
                          tunnel_problem=lambda provider: STRINGS[language]["no_tunnel_module"])

    def tunnel_problem(provider: str) -> str | None:
        try:
            tunnel_module.find_executable(provider, env.get("PATH"))
        except tunnel_module.TunnelError as error:
            logger.info("%s is unavailable: %s", provider, error)
            return STRINGS[language]["not_found"]
        return None

    return HostWindow(root, config, runner, server_factory=CallServer, tunnel_factory=tunnel_module.Tunnel,
                      tunnel_problem=tunnel_problem, language=language,
                      turnserver_problem=turnserver_problem(env, language))


def turnserver_problem(env: Mapping[str, str], language: str) -> str | None:
    """Why "Run my own" relay cannot work here (coturn missing), or None."""
    from coturn import CoturnError, find_turnserver

    try:
        find_turnserver(env.get("PATH"))
    except CoturnError:
        return RELAY_STRINGS[language]["relay_missing"]
    return None


def install_signal_handlers(window: HostWindow) -> Callable[[], None]:
    """SIGTERM and SIGINT close the window without asking; returns a function restoring the old handlers."""
    def handler(signum: int, frame: FrameType | None) -> None:
        window.request_shutdown()

    previous = {signum: signal.signal(signum, handler) for signum in (signal.SIGTERM, signal.SIGINT)}

    def restore() -> None:
        for signum, old in previous.items():
            signal.signal(signum, old)
    return restore


def run(config: Config, *, autostart: bool = False) -> int:
    """Show the window (starting at once with `autostart`) until it is closed; returns the exit code."""
    try:
        root = tk.Tk(className="Secret-Call")
    except tk.TclError as error:
        print(f"secret-call: cannot open the window ({error}); use --headless", file=sys.stderr)
        return 2
    runner = AsyncRunner().start()
    window: HostWindow | None = None
    restore: Callable[[], None] = lambda: None
    try:
        window = create_window(root, config, runner)
        restore = install_signal_handlers(window)
        if autostart:
            root.after_idle(window.start)
        root.mainloop()
    finally:
        if window is not None:
            window.shutdown()
        restore()
        runner.stop()
    return 0
