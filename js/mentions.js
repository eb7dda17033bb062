// @ts-check
/**
 * @mentions without the DOM: which "@query" the caret is in, whom it matches, what picking someone
 * inserts, which picked ids are still in the text at send time, and how a received message splits
 * into plain text and mentions (so the chat can render each part as a text node, never as HTML).
 */

/** @typedef {{id: string, name: string}} Person */
/** @typedef {{text: string, id?: string}} Segment a run of a message; `id` is set for a mention */
/** @typedef {{start: number, query: string}} MentionQuery `start` is the index of the "@" */

/** A query longer than the longest name (32) cannot match anyone. */
const MAX_QUERY = 33;

/** What may stand right before an "@" that starts a mention: "mail@example.org" is no mention. */
const BEFORE_MENTION = /[\s([{"'«„“‘<>]/u;

/** A character that would make "@Bob" part of a longer word ("@Bobby"). */
const WORD_CHAR = /[\p{L}\p{N}\p{M}_]/u;

/**
 * The form in which names and queries are compared: NFC, lower case in the browser's locale.
 * @param {string} text
 */
export function fold(text) {
  return text.normalize("NFC").toLocaleLowerCase();
}

/**
 * The "@query" that ends at the caret, or null when the caret is not in one.
 * @param {string} text
 * @param {number} caret
 * @returns {MentionQuery | null}
 */
export function mentionAt(text, caret) {
  const before = text.slice(0, caret);
  const start = before.lastIndexOf("@");
  if (start < 0) return null;
  if (start > 0 && !BEFORE_MENTION.test(before[start - 1])) return null;
  const query = before.slice(start + 1);
  // Names may have spaces, so the query may too; it never spans lines.
  if (query.length > MAX_QUERY || /[\r\n\t]/.test(query)) return null;
  return { start, query };
}

/**
 * The people whose name (or id) matches a query, best first: names that start with it, then names
 * with a word that starts with it, then ids that start with it, then names that contain it.
 * Within a rank the order given (the roster's join order) is kept.
 * @template {Person} T
 * @param {T[]} people
 * @param {string} query
 * @returns {T[]}
 */
export function matchPeople(people, query) {
  const wanted = fold(query);
  /** @type {{person: T, rank: number}[]} */
  const ranked = [];
  for (const person of people) {
    const name = fold(person.name);
    let rank = -1;
    if (name.startsWith(wanted)) rank = 0;
    else if (name.split(/[\s\-_.]+/u).some((word) => word.startsWith(wanted))) rank = 1;
    else if (person.id.startsWith(wanted)) rank = 2;
    else if (name.includes(wanted)) rank = 3;
    if (rank >= 0) ranked.push({ person, rank });
  }
  return ranked.sort((a, b) => a.rank - b.rank).map((entry) => entry.person);
}

/**
 * The text after picking `name` for the "@query" from `start` to `caret`: "@Name " and the caret
 * right after it (one space, not two, when a space already follows).
 * @param {string} text
 * @param {number} start the index of the "@"
 * @param {number} caret
 * @param {string} name
 * @returns {{text: string, caret: number}}
 */
export function insertMention(text, start, caret, name) {
  const after = text.slice(caret);
  const spaced = /^\s/u.test(after);
  const inserted = `@${name}${spaced ? "" : " "}`;
  return { text: text.slice(0, start) + inserted + after, caret: start + inserted.length + (spaced ? 1 : 0) };
}

/**
 * Whether "@name" stands at `index` of `text` as a whole mention.
 * @param {string} text
 * @param {number} index
 * @param {string} name
 */
function mentionStandsAt(text, index, name) {
  if (!name || !text.startsWith(`@${name}`, index)) return false;
  if (index > 0 && !BEFORE_MENTION.test(text[index - 1])) return false;
  const next = text.slice(index + name.length + 1).match(/^./su);
  return !next || !WORD_CHAR.test(next[0]);
}

/**
 * The ids of the picked people whose "@Name" is still in the text (each id once, in pick order).
 * @param {string} text
 * @param {Person[]} picked
 * @returns {string[]}
 */
export function mentionedIds(text, picked) {
  /** @type {string[]} */
  const ids = [];
  for (const person of picked) {
    if (ids.includes(person.id)) continue;
    for (let index = text.indexOf(`@${person.name}`); index >= 0; index = text.indexOf(`@${person.name}`, index + 1)) {
      if (mentionStandsAt(text, index, person.name)) {
        ids.push(person.id);
        break;
      }
    }
  }
  return ids;
}

/**
 * A message cut into plain runs and mentions of the given people. Longer names are tried first,
 * so "@Anna Lee" is one mention even when someone is called "Anna". Joining the runs' texts gives
 * back the message exactly.
 * @param {string} text
 * @param {Person[]} people the people the message mentions
 * @returns {Segment[]}
 */
export function splitMentions(text, people) {
  const byLength = [...people].filter((person) => person.name).sort((a, b) => b.name.length - a.name.length);
  /** @type {Segment[]} */
  const segments = [];
  let plainFrom = 0;
  let index = text.indexOf("@");
  while (index >= 0 && byLength.length) {
    const person = byLength.find((candidate) => mentionStandsAt(text, index, candidate.name));
    if (person) {
      if (index > plainFrom) segments.push({ text: text.slice(plainFrom, index) });
      const end = index + person.name.length + 1;
      segments.push({ text: text.slice(index, end), id: person.id });
      plainFrom = end;
      index = text.indexOf("@", end);
    } else {
      index = text.indexOf("@", index + 1);
    }
  }
  if (plainFrom < text.length) segments.push({ text: text.slice(plainFrom) });
  return segments;
}

