// @ts-check
/**
 * The local page behind the window's "Open in browser": it trades the one-time code in its
 * fragment for the invite link and goes there. The browser's command line, which every user of
 * the computer can read, so carries only that code, never the room token; a code works once.
 */
import { I18n, pickLanguage } from "./i18n.js";
import { local } from "./storage.js";

/**
 * Ask the server for the link behind `code`.
 * @param {string} code
 * @returns {Promise<{url: string} | {error: "used" | "expired" | "failed"}>}
 */
export async function redeem(code) {
  try {
    const response = await fetch("open", { method: "POST", body: code, cache: "no-store",
                                           headers: { "Content-Type": "text/plain" } });
    const body = await response.json();
    if (response.ok && typeof body.url === "string") return { url: body.url };
    return { error: body.error === "used" ? "used" : body.error === "expired" ? "expired" : "failed" };
  } catch {
    return { error: "failed" };
  }
}

const MESSAGES = Object.freeze({
  used: ["openUsedTitle", "openUsed"],
  expired: ["openExpiredTitle", "openExpired"],
  failed: ["openFailedTitle", "openFailed"],
});

async function main() {
  const code = location.hash.replace(/^#/, "");
  history.replaceState(null, "", location.pathname);
  const i18n = new I18n();
  await i18n.use(pickLanguage({ saved: local.get("lang"), browser: navigator.languages || [navigator.language] }));
  const result = code ? await redeem(code) : { error: /** @type {const} */ ("expired") };
  if ("url" in result) {
    location.replace(result.url);
    return;
  }
  const [title, text] = MESSAGES[result.error];
  const card = /** @type {HTMLElement} */ (document.getElementById("open-card"));
  card.dataset.state = result.error;
  /** @type {HTMLElement} */ (document.getElementById("open-title")).textContent = i18n.t(title);
  /** @type {HTMLElement} */ (document.getElementById("open-text")).textContent = i18n.t(text);
}

main();
