"""The window's small widgets: a QR code, a card, a link label that opens in the browser."""

from __future__ import annotations

import tkinter as tk
from tkinter import ttk
from typing import Any, Callable

from PIL import ImageTk

from gui_strings import STRINGS
from gui_theme import Palette, render_qr, tile

# -- widgets -------------------------------------------------------------------------------------

class QrCode(ttk.Frame):
    """A QR code of one link with a caption; a grey placeholder while there is no link."""

    def __init__(self, master: tk.Misc, caption: str, placeholder: str, size: int = 168) -> None:
        super().__init__(master, style="Card.TFrame")
        self.side = size
        self.text: str | None = None
        self._photo: ImageTk.PhotoImage | None = None
        self._blank = ImageTk.PhotoImage(tile(size, Palette.FIELD_DISABLED), master=self)
        self.image = tk.Label(self, image=str(self._blank), text=placeholder, compound="center", bd=0,
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
            self.image.configure(image=str(self._blank), compound="center")
            return
        picture = tile(self.side, "#ffffff")
        code = render_qr(text, self.side)
        offset = (self.side - code.width) // 2
        picture.paste(code, (offset, offset))
        self._photo = ImageTk.PhotoImage(picture, master=self)
        self.image.configure(image=str(self._photo), compound="none")


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
