// @ts-check
/**
 * Display names: the server's rule for which names it accepts (names.py), mirrored so that the
 * page refuses the same names before sending them, the short tag shown next to each name, and
 * the initials on avatars.
 */

/** The server's limit, in code points after trimming (docs/PROTOCOL.md, name). */
export const MAX_NAME = 32;

/** The leading hex digits of an id that pages show as a tag; the server keeps them unique. */
const TAG_LENGTH = 4;

/** What Python's str.strip() removes (a wider set than String.prototype.trim()). */
const EDGE_SPACE = /^[\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+|[\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$/g;

/** Control, format, private-use, unassigned, surrogate and line/paragraph separator characters. */
const REFUSED = /[\p{Cc}\p{Cf}\p{Co}\p{Cn}\p{Cs}\p{Zl}\p{Zp}]/u;

/** Letters and marks that render as nothing (names.py BLANK). */
const BLANK = new Set(["\u115f", "\u1160", "\u3164", "\uffa0", "\u2800", "\u034f", "\u17b4", "\u17b5", "\u{1d159}"]);

const VISIBLE = /^[\p{L}\p{N}\p{P}\p{S}]$/u;
const SYMBOL = /^\p{So}$/u;
const JOINS_AFTER = /^[\p{So}\p{Sk}\ufe0f]$/u;
const ZWJ = "\u200d";

/**
 * The name as the server will accept it (trimmed), or "" when the server would refuse it.
 * @param {string} raw
 */
export function cleanName(raw) {
  const name = raw.replace(EDGE_SPACE, "");
  const chars = Array.from(name);
  if (chars.length < 1 || chars.length > MAX_NAME) return "";
  let visible = false;
  for (let index = 0; index < chars.length; index++) {
    const char = chars[index];
    // A zero-width joiner is part of an emoji sequence such as 👩‍💻, and allowed there only.
    const joinsEmoji = char === ZWJ && index > 0 && index < chars.length - 1 &&
      JOINS_AFTER.test(chars[index - 1]) && SYMBOL.test(chars[index + 1]);
    if ((REFUSED.test(char) && !joinsEmoji) || BLANK.has(char)) return "";
    visible = visible || VISIBLE.test(char);
  }
  return visible ? name : "";
}

/**
 * The short tag that tells two people with the same name apart.
 * @param {string} id a participant id
 */
export function idTag(id) {
  return `#${id.slice(0, TAG_LENGTH)}`;
}

/**
 * Up to two letters that stand for a name.
 * @param {string} name
 */
export function initials(name) {
  const words = name.trim().split(/\s+/).filter(Boolean);
  const letters = words.length > 1 ? [words[0], words[words.length - 1]] : [name.trim()];
  return letters.map((word) => Array.from(word)[0] || "").join("").toUpperCase().slice(0, 2) ||
    "?";
}
