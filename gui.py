"""The host's desktop window: room settings, Start/Stop, invite links with QR codes, and the public link."""

from __future__ import annotations

import concurrent.futures
import logging
import os
import queue
import signal
import sys
import tkinter as tk
import webbrowser
from tkinter import messagebox, ttk
from types import FrameType
from typing import Any, Callable, Coroutine, Mapping

from PIL import ImageTk

from async_runner import AsyncRunner
from config import GUI_DEFAULT_TOKEN, PROVIDERS, Config, ConfigError, generate_token, is_weak_token
from gui_relay import RelayPanel, relay_error_text
from gui_strings import STRINGS, choose_language
from gui_theme import Palette, apply_theme, draw_icon
from gui_widgets import Card, LinkLabel, QrCode, wrap_to_width
from hosting import HostInfo, Hosting, ServerFactory, TunnelFactory

logger = logging.getLogger(__name__)

MIN_GROUP = 3
MAX_GROUP = 12
HEAVY_MESH = 8
TICK_MS = 50
COPIED_MS = 2500
STOP_TIMEOUT = 10.0
LINK_WRAP = 540

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
        def report(error: Exception) -> None:
            root.report_callback_exception(type(error), error, error.__traceback__)
        self.inbox = Inbox(on_error=report)
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
        root.iconphoto(True, *(str(icon) for icon in self._icons))  # Tk takes image names
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
        tk.Label(header, image=str(self._logo), bd=0, background=Palette.CARD).grid(row=0, column=0, rowspan=2,
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
        return STRINGS[language]["relay_missing"]
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
