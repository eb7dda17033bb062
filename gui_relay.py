"""The window's "Relay (TURN)" part: off, the TURN_URLS server, or a coturn of our own; and what the relay reports."""

from __future__ import annotations

import logging
import tkinter as tk
from tkinter import font as tkfont
from tkinter import ttk
from typing import Any

from config import DEFAULT_TURN_PORT, Config, ConfigError
from gui_strings import STRINGS
from turn import DEFAULT_STUN, stun_urls

logger = logging.getLogger(__name__)

OFF, URLS, OWN = "off", "urls", "own"

# The self-test's words (turn.RelayCheck.text), as the Russian window says them.
STATUS_WORDS_RU = (("working", "работает"), ("unreachable", "недоступен"), ("wrong secret", "неверный секрет"),
                   ("refused", "отказ"), ("TLS failed", "ошибка TLS"), ("checking…", "проверка…"))


def status_text(status: str, language: str) -> str:
    """The self-test's result in the window's language."""
    if language == "ru":
        for english, russian in STATUS_WORDS_RU:
            status = status.replace(english, russian)
    return status


def relay_error_text(error: BaseException, language: str, port: str) -> str | None:
    """The window's message for a relay that did not start, or None for other errors."""
    code = getattr(error, "code", None)
    template = STRINGS[language].get(code) if isinstance(code, str) and code.startswith("turn-") else None
    return template.format(port=port) if template else None


def style_choice(root: tk.Misc, palette: Any) -> str:
    """A read-only combobox that looks like the window's entries; returns its style name."""
    style = ttk.Style(root)
    style.configure("Relay.TCombobox", padding=(8, 4), fieldbackground=palette.CARD, background=palette.CARD,
                    lightcolor=palette.BORDER, arrowsize=12)
    style.map("Relay.TCombobox",
              fieldbackground=[("disabled", palette.FIELD_DISABLED), ("readonly", palette.CARD)],
              selectbackground=[("readonly", palette.CARD)], selectforeground=[("readonly", palette.TEXT)],
              lightcolor=[("focus", palette.ACCENT)], bordercolor=[("focus", palette.ACCENT)])
    return "Relay.TCombobox"


class RelayPanel:
    """The relay choice (a caption and a row in `column` of `parent`) and, while hosting, the relay's
    status and STUN (a label that attach_status() puts in the call card)."""

    def __init__(self, parent: ttk.Frame, column: int, *, config: Config, language: str,
                 turnserver_problem: str | None, mono: tkfont.Font, palette: Any) -> None:
        self.text = STRINGS[language]
        self.language = language
        self.config = config
        t = self.text
        self.labels = {OFF: t["relay_off"], **({URLS: t["relay_urls"]} if config.turn_urls else {}),
                       OWN: f"{t['relay_own']} ({turnserver_problem})" if turnserver_problem else t["relay_own"]}
        ttk.Label(parent, text=t["relay"], style="Field.Card.TLabel").grid(row=0, column=column, sticky="w",
                                                                         padx=(24, 0), pady=(12, 4))
        frame = ttk.Frame(parent, style="Card.TFrame")
        frame.grid(row=1, column=column, sticky="w", padx=(24, 0))
        self.choice_var = tk.StringVar(frame, self.labels[OFF])
        self.choice = ttk.Combobox(frame, textvariable=self.choice_var, values=list(self.labels.values()),
                                   state="readonly", style=style_choice(parent, palette),
                                   width=max(len(label) for label in self.labels.values()) + 1)
        self.choice.grid(row=0, column=0)
        self.choice.bind("<<ComboboxSelected>>", lambda event: self._choice_changed())
        self.port_label = ttk.Label(frame, text=t["relay_port"], style="Card.TLabel")
        self.port_label.grid(row=0, column=1, padx=(8, 6))
        self.port_var = tk.StringVar(frame, str(config.turn_port or DEFAULT_TURN_PORT))
        self.port_entry = ttk.Entry(frame, textvariable=self.port_var, font=mono, width=6)
        self.port_entry.grid(row=0, column=2)
        self.status_var = tk.StringVar(frame, "")
        self.status: ttk.Label | None = None
        self._editable = True
        self._hosting: Config | None = None
        self._public = False
        self.load(config)

    def attach_status(self, parent: ttk.Frame, row: int, wraplength: int) -> None:
        """Where the relay's status and the STUN server in use show while hosting."""
        self.status = ttk.Label(parent, textvariable=self.status_var, style="Muted.Card.TLabel", justify="left",
                                wraplength=wraplength)
        self.status.grid(row=row, column=0, sticky="w", pady=(14, 0))
        self.status.grid_remove()

    @property
    def mode(self) -> str:
        label = self.choice_var.get()
        return next((mode for mode, text in self.labels.items() if text == label), OFF)

    def select(self, mode: str) -> None:
        self.choice_var.set(self.labels.get(mode, self.labels[OFF]))
        self._choice_changed()

    def load(self, config: Config) -> None:
        self.port_var.set(str(config.turn_port))
        self.select(OWN if config.turn else URLS if config.turn_urls else OFF)

    def apply(self, config: Config) -> Config:
        """`config` with the relay the part describes; ConfigError with a message for the user."""
        mode = self.mode
        if mode != OWN:
            urls = self.config.turn_urls if mode == URLS else ()
            return config.with_changes(turn=False, turn_external_ip=None, turn_urls=urls,
                                       turn_secret=self.config.turn_secret if urls else None)
        try:
            port = int(self.port_var.get().strip())
        except ValueError:
            port = 0
        if not 1 <= port <= 65535:
            raise ConfigError(self.text["bad_turn_port"])
        return config.with_changes(turn=True, turn_port=port, turn_urls=(), turn_secret=None)

    def set_editable(self, editable: bool) -> None:
        self._editable = editable
        self.choice.state(["!disabled", "readonly"] if editable else ["disabled"])
        self._choice_changed()

    def _choice_changed(self) -> None:
        own = self.mode == OWN and self._editable
        self.port_entry.state(["!disabled"] if own else ["disabled"])
        self.port_label.state(["!disabled"] if own else ["disabled"])

    # -- while hosting ---------------------------------------------------------------------------

    def hosting(self, config: Config, status: str | None) -> None:
        """Hosting started with `config`; `status` is the self-test's result (None without TURN)."""
        self._hosting, self._status = config, status
        self._show()

    def set_public(self, public: bool) -> None:
        self._public = public
        if self._hosting is not None:
            self._show()

    def clear(self) -> None:
        self._hosting, self._public = None, False
        self.status_var.set("")
        if self.status is not None:
            self.status.grid_remove()

    def _show(self) -> None:
        assert self._hosting is not None
        lines = []
        if self._status:
            lines.append(self.text["relay_status"].format(status=status_text(self._status, self.language)))
        urls = stun_urls(self._hosting, public_link=self._public)
        if DEFAULT_STUN in urls:
            lines.append(self.text["stun_public"].format(url=DEFAULT_STUN))
        elif urls:
            lines.append(self.text["stun_set"].format(urls=", ".join(urls)))
        self.status_var.set("\n".join(lines))
        if self.status is not None:
            if lines:
                self.status.grid()
            else:
                self.status.grid_remove()
