// aedes-persistence-level ships no types. Only the factory used by broker/index.js is declared.
declare module 'aedes-persistence-level' {
  import type { Level } from 'level';

  /** Wraps an open `level` database as an aedes persistence (callback and async API). */
  export default function aedesPersistenceLevel(db: Level<string, string>): unknown;
}
