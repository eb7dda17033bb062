"""Untrusted text in a real Chromium: an XSS corpus (tests/fixtures/xss.json) as chat messages and names
renders literally and runs nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import aiohttp
import pytest
from playwright.async_api import Browser, expect

from conftest import BROWSER_UA, TOKEN, RunningServer
from probe import subprotocols
from browser import roster_is
from chat_page import chat_input, chat_tab, message_count, messages, send

pytestmark = pytest.mark.browser

CORPUS = json.loads((Path(__file__).resolve().parent / "fixtures" / "xss.json").read_text(encoding="utf-8"))
XSS_MESSAGES: list[str] = CORPUS["messages"]
XSS_NAMES: list[str] = CORPUS["names"]

# Elements that no text a person typed may ever turn into.
INJECTED_TAGS = ("script", "img", "svg", "iframe", "object", "embed", "math", "style", "base", "meta", "link",
                 "form", "input", "details", "video", "audio", "source", "body", "a", "frame", "frameset")

# From here on, record every element of those kinds added anywhere in the document.
WATCH_INJECTIONS = """(tags) => {
  window.__injected = [];
  const wanted = new Set(tags);
  new MutationObserver((records) => {
    for (const record of records) {
      for (const node of record.addedNodes) {
        if (!(node instanceof Element)) continue;
        for (const el of [node, ...node.querySelectorAll('*')]) {
          const tag = el.tagName.toLowerCase();
          // The app's own: an <audio> per peer, and each roster row's icons, slider and buttons
          // (names go only into its .who and .avatar).
          const chrome = el.closest('#players') || (el.closest('#roster') && !el.closest('.who, .avatar'));
          if (wanted.has(tag) && !chrome) {
            const parent = el.parentElement;
            window.__injected.push(`${tag} in ${parent ? parent.className || parent.id : '?'}`);
          }
        }
      }
    }
  }).observe(document.body, {childList: true, subtree: true});
}"""

INJECTED = """(tags) => {
  const selector = tags.map((t) => '#chat-log ' + t + ', #toasts ' + t + ', #chat-mentions ' + t).join(', ');
  const names = document.querySelectorAll('#roster .name-text *, #roster .initials *').length;
  const inRoster = document.querySelectorAll(
    tags.map((t) => `#roster .who ${t}, #roster .avatar ${t}`).join(', ')).length;
  return {injected: window.__injected, inChat: document.querySelectorAll(selector).length,
          rosterNames: names, inRoster, xss: window.__xss};
}"""



async def test_browser_chat_xss_corpus_renders_literally_and_runs_nothing(
        browser: Browser, start_server: Callable[..., RunningServer]) -> None:
    server = start_server(capacity=3)
    dialogs: list[str] = []
    alice = await chat_tab(browser, server.invite(), dialogs=dialogs)
    bob = await chat_tab(browser, server.invite(), dialogs=dialogs)
    await alice.join("Alice")
    await bob.join("Bob")
    await roster_is(bob, ["Alice", "Bob (you)"])
    for tab in (alice, bob):
        await tab.page.evaluate(WATCH_INJECTIONS, list(INJECTED_TAGS))

    # Messages typed into the page.
    for payload in XSS_MESSAGES:
        await send(alice.page, payload)
    for tab in (alice, bob):
        await message_count(tab.page, len(XSS_MESSAGES))

    # Names, from a participant that renames itself through the corpus and speaks under each name.
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(server.ws_url, protocols=subprotocols(TOKEN),
                                      headers={"User-Agent": BROWSER_UA, "Origin": server.url.rstrip("/")})
        await ws.receive_json()
        bob_id = await bob.page.evaluate("window.secretCall.selfId()")
        for number, name in enumerate(XSS_NAMES):
            await ws.send_json({"type": "name", "name": name})
            await ws.send_json({"type": "chat", "text": f"@Bob {XSS_MESSAGES[number]}", "mentions": [bob_id]})
        total = len(XSS_MESSAGES) + len(XSS_NAMES)
        for tab in (alice, bob):
            await message_count(tab.page, total)
        await roster_is(bob, ["Alice", "Bob (you)", XSS_NAMES[-1]])

        # The mention list shows the last name as text too.
        box = chat_input(bob.page)
        await box.focus()
        await box.type("@")
        await expect(bob.page.get_by_role("option", name=XSS_NAMES[-1], exact=True)).to_be_visible()
        await box.press("Escape")
        await box.fill("")
        await ws.close()

    for tab in (alice, bob):
        shown = await messages(tab.page)
        assert [m["text"] for m in shown[:len(XSS_MESSAGES)]] == XSS_MESSAGES
        assert [m["name"] for m in shown[:len(XSS_MESSAGES)]] == ["Alice"] * len(XSS_MESSAGES)
        assert [m["name"] for m in shown[len(XSS_MESSAGES):]] == XSS_NAMES
        assert [m["text"] for m in shown[len(XSS_MESSAGES):]] == [f"@Bob {p}" for p in XSS_MESSAGES[:len(XSS_NAMES)]]
        for message in shown:
            assert set(message["elements"]) <= {"mark"}, message
        found = await tab.page.evaluate(INJECTED, list(INJECTED_TAGS))
        assert found == {"injected": [], "inChat": 0, "rosterNames": 0, "inRoster": 0, "xss": 0}
    assert all(m["mentionsMe"] for m in (await messages(bob.page))[len(XSS_MESSAGES):])
    assert dialogs == []
    await alice.clean()
    await bob.clean()
