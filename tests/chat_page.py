"""What the chat tests share: a tab with the hooks chat needs, and how the page's chat reads."""

from __future__ import annotations

import json
import re
from typing import Any, Callable

from playwright.async_api import Browser, Page, WebSocketRoute, expect

from conftest import RunningServer
from browser import CONNECT_TIMEOUT, CSP_PROBE, DESKTOP, READY, Tab

TIMEOUT_MS = CONNECT_TIMEOUT * 1000
LIMIT = 2000

# Every message on the page as a person sees it.
MESSAGES = """() => [...document.querySelectorAll('#chat-log .chat-message')].map((m) => ({
  name: m.querySelector('.chat-name').textContent,
  text: m.querySelector('.chat-text').textContent,
  time: m.querySelector('.chat-time').textContent,
  own: m.classList.contains('own'),
  mentionsMe: m.classList.contains('mentions-me'),
  marks: [...m.querySelectorAll('.chat-text mark')].map((k) => [k.textContent, k.classList.contains('mention-self')]),
  elements: [...m.querySelectorAll('.chat-text *, .chat-name *')].map((e) => e.tagName.toLowerCase()),
}))"""

# The time as the page should show it: the browser's locale, hours and minutes.
LOCAL_TIME = "(ts) => new Intl.DateTimeFormat(undefined, {hour: 'numeric', minute: '2-digit'}).format(ts)"

# Set before any script of the page runs; a payload that ran would change it.
XSS_PROBE = "window.__xss = 0;"

# -- helpers -------------------------------------------------------------------------------

async def chat_tab(browser: Browser, url: str, *, viewport: dict[str, int] = DESKTOP, lang: str = "en",
                   locale: str = "en-US", route: Callable[[WebSocketRoute], Any] | None = None,
                   frames: list[dict[str, Any]] | None = None, dialogs: list[str] | None = None) -> Tab:
    """Like open_tab, with hooks that must be in place before the page opens its socket."""
    context = await browser.new_context(viewport=viewport, reduced_motion="reduce", locale=locale)
    await context.add_init_script(CSP_PROBE)
    await context.add_init_script(XSS_PROBE)
    if route:
        await context.route_web_socket(re.compile(r"/ws$"), route)
    page = await context.new_page()
    tab = Tab(page, context)
    page.on("console", lambda message: message.type == "error" and tab.errors.append(message.text))
    page.on("pageerror", lambda error: tab.errors.append(f"pageerror: {error}"))
    if frames is not None:
        page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(_frame(payload))))
    if dialogs is not None:
        async def dismiss(dialog: Any) -> None:
            dialogs.append(f"{dialog.type}: {dialog.message}")
            await dialog.dismiss()
        page.on("dialog", dismiss)
    await page.goto(url.replace("/#", f"/?lang={lang}#", 1))
    await page.wait_for_function(READY)
    return tab


def _frame(payload: Any) -> dict[str, Any]:
    text = payload.get("payload") if isinstance(payload, dict) else payload
    try:
        message = json.loads(text)
    except (TypeError, ValueError):
        return {}
    return message if isinstance(message, dict) else {}


def chat_input(page: Page) -> Any:
    return page.get_by_role("combobox", name="Message", exact=True)


async def joined(browser: Browser, server: RunningServer, names: list[str], **options: Any) -> list[Tab]:
    """One tab per name, joined one after another; each sees the chat once everyone is in."""
    tabs = [await chat_tab(browser, server.invite(), **options) for _ in names]
    for tab, name in zip(tabs, names):
        await tab.join(name)
    for tab in tabs:
        await expect(tab.page.locator("#roster .participant")).to_have_count(len(names), timeout=TIMEOUT_MS)
        await expect(chat_input(tab.page)).to_be_visible()
    return tabs


async def send(page: Page, text: str) -> None:
    """Type a message the quick way and send it with Enter."""
    box = chat_input(page)
    await box.fill(text)
    await box.press("Enter")
    await expect(box).to_have_value("")


async def messages(page: Page) -> list[dict[str, Any]]:
    return await page.evaluate(MESSAGES)


async def message_count(page: Page, count: int) -> None:
    await expect(page.locator("#chat-log .chat-message")).to_have_count(count, timeout=TIMEOUT_MS)


async def state(page: Page) -> dict[str, Any]:
    """The composer as assistive technology sees it."""
    return await page.evaluate("""() => {
      const box = document.getElementById('chat-input');
      const list = document.getElementById('chat-mentions');
      const active = box.getAttribute('aria-activedescendant');
      return {value: box.value, caret: box.selectionStart, focused: document.activeElement === box,
              expanded: box.getAttribute('aria-expanded'), listVisible: !list.hidden,
              options: [...list.querySelectorAll('[role=option]')]
                .map((o) => o.querySelector('.chat-mention-name').textContent),
              active: active ? document.getElementById(active).querySelector('.chat-mention-name').textContent : null,
              selected: [...list.querySelectorAll('[aria-selected=true]')].map((o) => o.id),
              activeId: active};
    }""")
