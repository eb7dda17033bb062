"""How each link goes and who cannot be reached: js/pathinfo.js on a fake mesh, the notice on the page."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest
from playwright.async_api import Browser, expect

from conftest import RunningServer
from browser import hearing, open_tab

pytestmark = pytest.mark.browser

# A fake mesh (the EventTarget PathWatcher listens to, with canned stats) drives a real PathWatcher.
WATCHER = """async () => {
  const { PathWatcher, classifyPair, pathFromStats } = await import("/js/pathinfo.js");
  const { Events, emit } = await import("/js/events.js");
  const pair = (local, remote, relayProtocol) => [
    {id: "T", type: "transport", selectedCandidatePairId: "P"},
    {id: "P", type: "candidate-pair", localCandidateId: "L", remoteCandidateId: "R"},
    {id: "L", type: "local-candidate", candidateType: local, relayProtocol},
    {id: "R", type: "remote-candidate", candidateType: remote},
  ];
  class FakeMesh extends EventTarget {
    constructor() { super(); this.iceServers = []; this.states = {}; this.stats = {}; }
    async getStats(id) { return this.stats[id] || []; }
    connectionState(id) { return this.states[id] || "new"; }
    connection() { return null; }
    set(id, state) { this.states[id] = state; emit(this, Events.PEER_STATE, {id, state}); }
  }
  const mesh = new FakeMesh();
  const watcher = new PathWatcher(mesh, {unreachableAfter: 300});
  const seen = [];
  watcher.addEventListener(Events.PEER_PATH, (event) => seen.push(event.detail));
  const settle = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  // Resolves with the first path event for `id` that passes `test` (or null after 2 s).
  const news = (id, test) => new Promise((resolve) => {
    const timer = setTimeout(() => resolve(null), 2000);
    watcher.addEventListener(Events.PEER_PATH, function listen(event) {
      if (event.detail.id !== id || !test(event.detail)) return;
      clearTimeout(timer);
      watcher.removeEventListener(Events.PEER_PATH, listen);
      resolve(event.detail);
    });
  });
  const out = {};

  out.classify = [["host", "host"], ["host", "srflx"], ["prflx", "host"], ["srflx", "relay"], ["relay", "host"]]
    .map(([l, r]) => classifyPair({candidateType: l}, {candidateType: r}));
  out.fromStats = [pathFromStats(pair("relay", "srflx", "tcp")), pathFromStats(pair("srflx", "relay", "udp")),
    pathFromStats([{id: "P", type: "candidate-pair", selected: true, localCandidateId: "L", remoteCandidateId: "R"},
                   {id: "L", candidateType: "host"}, {id: "R", candidateType: "host"}]),
    pathFromStats([])];

  // Fails before it ever connected: unreachable; the retries keep it so; connecting clears it.
  mesh.set("a", "connecting");
  mesh.set("a", "failed");
  out.failed = watcher.view("a").unreachable;
  mesh.set("a", "restarting");
  mesh.set("a", "connecting");
  out.retrying = watcher.view("a").unreachable;
  mesh.stats.a = pair("relay", "srflx", "tcp");
  const pathRead = news("a", (info) => info.path !== "");
  mesh.set("a", "connected");
  await pathRead;
  out.connected = watcher.view("a");
  // Broken after it worked: a hiccup, not blocked networks.
  mesh.set("a", "disconnected");
  mesh.set("a", "failed");
  out.brokeLater = watcher.view("a");

  // The side that never sees "failed" (the other one restarted ICE) gives up after a while.
  mesh.set("b", "connecting");
  out.before = watcher.view("b").unreachable;
  await news("b", (info) => info.unreachable);
  out.after = watcher.view("b").unreachable;
  mesh.iceServers = [{urls: "turn:198.18.0.2:3478", username: "u", credential: "p"}];
  out.turn = watcher.view("b").turn;
  emit(mesh, Events.PEER_CLOSED, {id: "b"});
  out.closed = seen[seen.length - 1];

  // A link that connects in time is never called unreachable.
  mesh.stats.c = pair("host", "host");
  mesh.set("c", "connecting");
  mesh.set("c", "connected");
  // Nothing should happen: wait past the moment the 300 ms timer would have fired.
  await settle(400);
  out.quick = seen.filter((info) => info.id === "c").map((info) => [info.path, info.unreachable]);
  return out;
}"""


async def test_pathinfo_watcher_classifies_paths_and_finds_blocked_links(
        browser: Browser, start_server: Callable[..., RunningServer]) -> None:
    server = start_server()
    tab = await open_tab(browser, server.url)
    result: dict[str, Any] = await tab.page.evaluate(WATCHER)
    assert result["classify"] == ["direct", "stun", "stun", "relay", "relay"]
    assert result["fromStats"] == [{"path": "relay", "relayProtocol": "tcp"}, {"path": "relay", "relayProtocol": ""},
                                   {"path": "direct", "relayProtocol": ""}, None]
    assert result["failed"] is True and result["retrying"] is True
    assert result["connected"] == {"id": "a", "path": "relay", "relayProtocol": "tcp", "unreachable": False,
                                   "turn": False}
    assert result["brokeLater"]["unreachable"] is False and result["brokeLater"]["path"] == ""
    assert result["before"] is False and result["after"] is True
    assert result["turn"] is True
    assert result["closed"] == {"id": "b", "path": "", "relayProtocol": "", "unreachable": False, "turn": True}
    assert result["quick"][-1] == ["direct", False] and not any(unreachable for _, unreachable in result["quick"])
    await tab.clean()


# The notice and the roster row, fed by hand on the real page.
NOTICE = """async ({turn}) => {
  const { ConnectNotice } = await import("/js/connect-notice.js");
  const { I18n } = await import("/js/i18n.js");
  const i18n = new I18n();
  await i18n.use(document.documentElement.lang);
  const notice = new ConnectNotice(i18n);
  notice.setParticipants([{id: "me", name: "Me", self: true}, {id: "b", name: "Борис", self: false},
                          {id: "c", name: "Carol", self: false}]);
  const info = (id, unreachable) => ({id, path: "", relayProtocol: "", unreachable, turn});
  notice.setPath(info("b", true));
  notice.setPath(info("c", true));
  const element = document.getElementById("connect-notice");
  const shown = {hidden: element.hidden, text: element.innerText, codes: [...element.querySelectorAll("code")]
    .map((code) => code.textContent)};
  notice.setPath(info("b", false));
  const one = document.getElementById("connect-notice-title").textContent;
  notice.setParticipants([{id: "me", name: "Me", self: true}]);
  return {shown, one, hiddenWhenGone: element.hidden};
}"""


@pytest.mark.parametrize(("lang", "turn"), [("en", False), ("en", True), ("ru", False), ("ru", True)])
async def test_pathinfo_notice_says_what_would_help(browser: Browser, start_server: Callable[..., RunningServer],
                                                    artifacts: Path, lang: str, turn: bool) -> None:
    server = start_server()
    tab = await open_tab(browser, server.url, lang=lang)
    result: dict[str, Any] = await tab.page.evaluate(NOTICE, {"turn": turn})
    shown = result["shown"]
    assert shown["hidden"] is False
    if lang == "en":
        assert shown["text"].startswith("Can't connect to Борис and Carol")
        assert ("relay (TURN) server could be reached" in shown["text"]) is turn
        assert ("A relay (TURN) server is needed" in shown["text"]) is not turn
        assert "keeps trying in the background" in shown["text"]
        assert result["one"] == "Can't connect to Carol"
    else:
        assert shown["text"].startswith("Не удаётся соединиться: Борис и Carol")
        assert ("даже до ретранслятора" in shown["text"]) is turn
        assert "продолжает попытки в фоне" in shown["text"]
        assert result["one"] == "Не удаётся соединиться: Carol"
    assert shown["codes"] == (["TURN_URLS", "turn:…:3478?transport=tcp", "turns:…:5349"] if turn
                              else ["--turn", "TURN_URLS"])
    assert result["hiddenWhenGone"] is True
    await tab.clean()


async def test_pathinfo_row_shows_a_direct_link_in_both_languages(
        browser: Browser, start_server: Callable[..., RunningServer], artifacts: Path) -> None:
    server = start_server()
    alice = await open_tab(browser, server.invite())
    boris = await open_tab(browser, server.invite(), lang="ru")
    await alice.join("Alice")
    await boris.page.get_by_label("Имя", exact=True).fill("Борис")
    await boris.page.get_by_role("button", name="Войти", exact=True).click()
    await hearing(alice, 1)
    await hearing(boris, 1)
    for tab, words in ((alice, ("connected", "direct")), (boris, ("на связи", "напрямую"))):
        row = tab.page.locator("#roster .participant:not(.self)")
        await expect(row).to_have_attribute("data-path", "direct")
        await expect(row.locator(".participant-state")).to_have_text(words[0])
        await expect(row.locator(".participant-path")).to_have_text(words[1])
    await expect(alice.page.locator("#connect-notice")).to_be_hidden()
    await boris.page.locator("#roster").screenshot(path=artifacts / "pathinfo-row-ru.png", animations="disabled")
    await alice.clean()
