/**
 * Versioned schema migrations, applied in version order by openDatabase. Never edit a released migration:
 * add a new one. Each lives in its own module, listed here.
 */
import m001 from './001_sessions.js';
import m002 from './002_rooms.js';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const migrations: readonly Migration[] = [m001, m002];
