/**
 * Times as a person reads them on a phone: how long from now ("in 23 h", "2 h ago") and the
 * clock time with its weekday ("Mon 07:00 UTC"), so an approver need not work out what an ISO
 * timestamp means for them. Time left is rounded down: a page never promises more time than there is.
 */

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'] as const;
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'] as const;

/** A duration in words, coarser as it grows: "less than a minute", "45 min", "1 h 30 min", "23 h", "3 days 4 h". */
export function durationInWords(ms: number): string {
  const span = Math.max(0, ms);
  if (span < MINUTE) return 'less than a minute';
  if (span < HOUR) return `${Math.floor(span / MINUTE)} min`;
  if (span < 3 * HOUR) {
    const hours = Math.floor(span / HOUR);
    const minutes = Math.floor((span % HOUR) / MINUTE);
    return minutes > 0 ? `${hours} h ${minutes} min` : `${hours} h`;
  }
  if (span < 2 * DAY) return `${Math.floor(span / HOUR)} h`;
  const days = Math.floor(span / DAY);
  const hours = Math.floor((span % DAY) / HOUR);
  return hours > 0 && days < 7 ? `${days} days ${hours} h` : `${days} days`;
}

/** "in 23 h" or "2 h ago", from `now`. */
export function relativeTime(at: Date, now: Date): string {
  const delta = at.getTime() - now.getTime();
  return delta >= 0 ? `in ${durationInWords(delta)}` : `${durationInWords(-delta)} ago`;
}

/** "Mon 07:00 UTC"; with the date ("Mon 14 Dec 07:00 UTC") when it is a week or more from `now`, either way. */
export function clockTime(at: Date, now: Date): string {
  const hh = String(at.getUTCHours()).padStart(2, '0');
  const mm = String(at.getUTCMinutes()).padStart(2, '0');
  const day = WEEKDAYS[at.getUTCDay()]!;
  const farOff = Math.abs(at.getTime() - now.getTime()) >= 6 * DAY;
  const date = farOff ? ` ${at.getUTCDate()} ${MONTHS[at.getUTCMonth()]}` : '';
  return `${day}${date} ${hh}:${mm} UTC`;
}

/** "expires in 23 h, Mon 07:00 UTC", or "expired 5 min ago, Sun 06:55 UTC". A date that does not parse is shown as given. */
export function expiryInWords(expiresAt: string, now: Date): string {
  const at = new Date(expiresAt);
  if (Number.isNaN(at.getTime())) return `expires ${expiresAt}`;
  const verb = at.getTime() > now.getTime() ? 'expires' : 'expired';
  return `${verb} ${relativeTime(at, now)}, ${clockTime(at, now)}`;
}
