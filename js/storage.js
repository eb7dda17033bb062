// @ts-check
/**
 * Web Storage behind try/catch: private modes and strict settings may throw on access,
 * and the app must still work, just without remembering.
 */

const PREFIX = "secret-call.";

export class Store {
  /** @param {"localStorage" | "sessionStorage"} kind */
  constructor(kind) {
    this.kind = kind;
  }

  /** @private */
  area() {
    try {
      return window[this.kind];
    } catch {
      return null;
    }
  }

  /**
   * @param {string} key
   * @param {string} [fallback]
   */
  get(key, fallback = "") {
    try {
      const value = this.area()?.getItem(PREFIX + key);
      return value === null || value === undefined ? fallback : value;
    } catch {
      return fallback;
    }
  }

  /**
   * @param {string} key
   * @param {string} value
   */
  set(key, value) {
    try {
      this.area()?.setItem(PREFIX + key, value);
    } catch {
      // Quota or privacy settings: remembering is a nicety, not a requirement.
    }
  }

  /** @param {string} key */
  remove(key) {
    try {
      this.area()?.removeItem(PREFIX + key);
    } catch {
      // As in set().
    }
  }
}

/** Settings and the name: kept across visits. */
export const local = new Store("localStorage");
/** The room token: kept for this tab only. */
export const session = new Store("sessionStorage");
