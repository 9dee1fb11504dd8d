export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

export interface IdGenerator {
  /** A unique, roughly time-ordered id. */
  newId(prefix: string): string;
}
