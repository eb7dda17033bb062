"""The page on a phone (Chromium's device emulation: 390×844, touch, 3× pixels), used with taps:
join, mute, the chat fold, the emoji picker, the verify dialog and the settings. In every state
nothing sticks out sideways and every control is a target of at least 44×44 CSS px."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest
from playwright.async_api import Browser, Locator, Page, expect

from conftest import RunningServer
from browser import CONNECT_TIMEOUT, PHONE, Tab, hearing, open_tab
from chat_page import chat_input, message_count, send

pytestmark = pytest.mark.browser

TIMEOUT_MS = CONNECT_TIMEOUT * 1000
TOUCH_PHONE: dict[str, Any] = {"viewport": PHONE, "has_touch": True, "is_mobile": True, "device_scale_factor": 3}
MIN_TARGET = 44
COARSE = "matchMedia('(pointer: coarse)').matches"

# What is wrong with the layout as it is shown now: whether the page scrolls sideways, the
# visible elements that stick out of the viewport, and the visible controls smaller than a
# fingertip. An element inside a box that clips sideways (a scroller, overflow: hidden) is
# judged by that box instead, which is checked itself. A control's target is its own box, or
# the <label> around it when there is one (a tap on the label works the control).
LAYOUT = """(minTarget) => {
  const viewport = window.innerWidth;
  const visible = (e) => e.checkVisibility({visibilityProperty: true, opacityProperty: true})
    && e.getClientRects().length > 0;
  const clipped = (e) => {
    for (let up = e.parentElement; up && up !== document.body; up = up.parentElement) {
      if (getComputedStyle(up).overflowX !== 'visible') return true;
    }
    return false;
  };
  const describe = (e) => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')
    + (e.className && typeof e.className === 'string' ? '.' + e.className.trim().split(/\\s+/).join('.') : '')
    + (e.getAttribute('aria-label') ? `[${e.getAttribute('aria-label')}]` : '');
  const outside = [];
  for (const e of document.body.querySelectorAll('*')) {
    if (!visible(e) || clipped(e) || e.closest('[aria-hidden=true]')) continue;
    const r = e.getBoundingClientRect();
    if (r.width && (r.left < -0.5 || r.right > viewport + 0.5)) outside.push(`${describe(e)} ${r.left}..${r.right}`);
  }
  const small = [];
  const controls = 'button, input:not([type=hidden]), select, textarea, summary, [role=button], a[href]';
  for (const e of document.querySelectorAll(controls)) {
    if (!visible(e)) continue;
    const target = e.closest('label') || e;
    const r = target.getBoundingClientRect();
    if (r.width < minTarget - 0.01 || r.height < minTarget - 0.01) {
      small.push(`${describe(e)} ${Math.round(r.width * 10) / 10}×${Math.round(r.height * 10) / 10}`);
    }
  }
  return {scrollWidth: document.scrollingElement.scrollWidth, viewport, outside, small};
}"""


async def fits(page: Page, where: str, shot: Path | None = None, *, scroll_to: str | None = None) -> None:
    """Nothing overflows sideways and every visible control is big enough to tap; then a picture to look at.

    The pictures are of the viewport, scrolled to `scroll_to`: a full_page screenshot resizes the
    emulated device for the shot and the page is left with a fine pointer after it."""
    assert await page.evaluate(COARSE), f"{where}: still a touch phone"
    layout = await page.evaluate(LAYOUT, MIN_TARGET)
    assert layout["scrollWidth"] <= layout["viewport"], f"{where}: the page scrolls sideways: {layout}"
    assert not layout["outside"], f"{where}: sticking out of the viewport: {layout['outside']}"
    assert not layout["small"], f"{where}: targets under {MIN_TARGET}×{MIN_TARGET} px: {layout['small']}"
    if shot:
        if scroll_to:
            await page.locator(scroll_to).evaluate("(e) => e.scrollIntoView({block: 'end'})")
        await page.screenshot(path=shot, animations="disabled")


async def tapped_open(page: Page, button: str, dialog: str) -> Locator:
    """Tap a button that opens a dialog; the dialog, once shown."""
    await page.get_by_role("button", name=button, exact=True).tap()
    shown = page.get_by_role("dialog", name=dialog)
    await expect(shown).to_be_visible()
    return shown


async def phone_tab(browser: Browser, server: RunningServer) -> Tab:
    tab = await open_tab(browser, server.invite(), **TOUCH_PHONE)
    assert await tab.page.evaluate(COARSE), "a touch phone, as emulated"
    return tab


async def test_browser_phone_join_mute_chat_verify_and_settings_by_tapping(
        browser: Browser, start_server: Callable[..., RunningServer], artifacts: Path) -> None:
    server = start_server(capacity=2)
    alice = await phone_tab(browser, server)
    page = alice.page
    await fits(page, "before joining", artifacts / "phone-idle.png")

    # The settings, before joining.
    settings = await tapped_open(page, "Settings", "Settings")
    await fits(page, "the settings", artifacts / "phone-settings.png")
    await settings.get_by_role("button", name="Cancel").tap()
    await expect(settings).to_be_hidden()

    await page.get_by_label("Name", exact=True).fill("Alice")
    await alice.join_button.tap()
    await expect(alice.leave_button).to_be_visible(timeout=TIMEOUT_MS)
    bob = await open_tab(browser, server.invite())
    await bob.join("Bob")
    await hearing(alice, 1)
    b_id = await bob.self_id()
    await fits(page, "in the call")

    # Mute oneself, and mute Bob, by tapping.
    await page.get_by_role("button", name="Mute microphone").tap()
    await expect(page.get_by_role("button", name="Unmute microphone")).to_have_attribute("aria-pressed", "true")
    await page.get_by_role("button", name="Mute Bob", exact=True).tap()
    await expect(page.get_by_role("button", name="Unmute Bob", exact=True)).to_have_attribute("aria-pressed", "true")
    assert (await alice.player(b_id))["muted"] is True
    await fits(page, "muted", artifacts / "phone-call.png", scroll_to="#roster-card")

    # The chat folds away, counts what comes in meanwhile, and opens again.
    await page.get_by_role("button", name="Hide chat").tap()
    await expect(page.locator("#chat-log")).to_be_hidden()
    await send(bob.page, "Can you hear me on your phone?")
    show = page.get_by_role("button", name="Show chat (1 unread)")
    await expect(show).to_be_visible(timeout=TIMEOUT_MS)
    await fits(page, "the chat folded", artifacts / "phone-chat-folded.png", scroll_to="#chat-card")
    await show.tap()
    await expect(page.locator("#chat-log")).to_be_visible()
    await message_count(page, 1)
    await chat_input(page).tap()
    await chat_input(page).fill("Yes, loud and clear ")
    picker = await tapped_open(page, "Emoji", "Emoji")
    await picker.get_by_role("button", name="Thumbs up").tap()
    await expect(chat_input(page)).to_have_value("Yes, loud and clear 👍")
    await fits(page, "the emoji picker", artifacts / "phone-emoji.png", scroll_to="#chat-card")
    await picker.get_by_role("button", name="Close").tap()
    await expect(picker).to_be_hidden()
    await page.get_by_role("button", name="Send", exact=True).tap()
    await message_count(bob.page, 2)

    # The verify dialog, from Bob's entry in the roster.
    verify = page.locator(f'#roster .participant[data-peer-id="{b_id}"]').get_by_role("button", name="Verify")
    await expect(verify).to_be_visible(timeout=TIMEOUT_MS)
    await fits(page, "with a verification code")
    await verify.tap()
    dialog = page.get_by_role("dialog", name="Verify the call with Bob")
    await expect(dialog).to_be_visible()
    await fits(page, "the verify dialog", artifacts / "phone-verify.png")
    await dialog.get_by_role("button", name="Close").tap()
    await expect(dialog).to_be_hidden()

    # The settings in the call, then leaving.
    await tapped_open(page, "Settings", "Settings")
    await fits(page, "the settings in the call")
    await settings.get_by_role("button", name="Cancel").tap()
    await alice.leave_button.tap()
    await expect(alice.join_button).to_be_visible()
    await fits(page, "after leaving")
    await alice.clean()
    await bob.clean()


async def test_browser_phone_modals_fit(browser: Browser, start_server: Callable[..., RunningServer],
                                        artifacts: Path) -> None:
    """The refusals a phone user may meet: a wrong token, a full room."""
    server = start_server(capacity=1)
    wrong = await open_tab(browser, server.invite().split("#")[0] + "#token=not-the-token", **TOUCH_PHONE)
    token = wrong.page.get_by_role("dialog", name="Wrong room token")
    await expect(token).to_be_visible(timeout=TIMEOUT_MS)
    await fits(wrong.page, "the wrong-token dialog", artifacts / "phone-wrong-token.png")
    await token.get_by_role("button", name="Edit the token").tap()
    await expect(token).to_be_hidden()

    alice = await open_tab(browser, server.invite())
    await alice.join("Alice")
    carol = await phone_tab(browser, server)
    await carol.page.get_by_label("Name", exact=True).fill("Carol")
    await carol.join_button.tap()
    full = carol.page.get_by_role("dialog", name="The call is full")
    await expect(full).to_be_visible(timeout=TIMEOUT_MS)
    await fits(carol.page, "the full-room dialog", artifacts / "phone-full.png")
    await full.get_by_role("button", name="Close").tap()
    await expect(full).to_be_hidden()
    for tab in (wrong, alice, carol):
        await tab.clean()
