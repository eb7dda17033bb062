// @ts-check
/** The invite link: `/#token=<percent-encoded token>`. The token is read once, then kept per tab. */
import { session as tabStore } from "./storage.js";

/**
 * The room token from an invite link's fragment, or null.
 * @param {string} hash location.hash
 */
export function tokenFromFragment(hash) {
  for (const part of hash.replace(/^#/, "").split("&")) {
    if (part.startsWith("token=")) {
      try {
        return decodeURIComponent(part.slice("token=".length));
      } catch {
        return null;
      }
    }
  }
  return null;
}

/**
 * Take the token from the address bar (removing the fragment so it does not linger in history,
 * bookmarks or screen shares) or, after a reload, from this tab's sessionStorage.
 * @returns {{token: string, fromInvite: boolean}}
 */
export function takeInviteToken() {
  const fromLink = tokenFromFragment(location.hash);
  if (fromLink !== null) {
    tabStore.set("token", fromLink);
    history.replaceState(history.state, "", location.pathname + location.search);
  }
  return { token: fromLink ?? tabStore.get("token"), fromInvite: fromLink !== null };
}
