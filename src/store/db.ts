/**
 * The SQLite database (better-sqlite3): one file `DATA_DIR/meetcore.db` in WAL mode, written only from the
 * JS thread (one writer), migrated at open by the versioned migrations of ./migrations. The file and its
 * `-wal` and `-shm` are readable by the running user only (0600): they hold password hashes and tokens.
 */
import Database from 'better-sqlite3';
import fs from 'node:fs';
import path from 'node:path';
import { loadNative } from '../runtime.js';
import { migrations, type Migration } from './migrations/index.js';

export type Db = Database.Database;

/**
 * Open (creating if needed) and migrate the database. A file is created 0600 before SQLite opens it (SQLite
 * gives its `-wal` and `-shm` the database file's mode), and an existing database, `-wal` or `-shm` is set
 * to 0600 (older versions left them 0644).
 * @param file path of the SQLite file, or ':memory:'.
 * @throws Error when the file cannot be opened or a migration fails (the failing migration is rolled back).
 */
export function openDatabase(file: string, list: readonly Migration[] = migrations): Db {
  const onDisk = file !== ':memory:';
  if (onDisk) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.closeSync(fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600));
  }
  // In the single executable the addon is the embedded one (src/runtime.ts); in a checkout, better-sqlite3's own.
  const db = new Database(file, { nativeBinding: loadNative('better_sqlite3') as string | undefined });
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  migrate(db, list);
  if (onDisk) for (const f of [file, `${file}-wal`, `${file}-shm`]) if (fs.existsSync(f)) fs.chmodSync(f, 0o600);
  return db;
}

/**
 * Apply every listed migration not applied yet, in version order, each in its own transaction. Applied
 * versions are recorded in `schema_migrations` (a database from before that table counts every version up to
 * its `PRAGMA user_version` as applied), so a migration added below the highest applied one still runs.
 * `user_version` is kept at the highest applied version for tools that read it.
 */
export function migrate(db: Db, list: readonly Migration[]): void {
  const sorted = [...list].sort((a, b) => a.version - b.version);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i]!.version === sorted[i - 1]!.version) throw new Error(`duplicate migration version ${sorted[i]!.version}`);
  }
  db.transaction(() => {
    const hasTable = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").get();
    if (hasTable) return;
    db.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
    const current = db.pragma('user_version', { simple: true }) as number;
    const backfill = db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
    for (const m of sorted) if (m.version <= current) backfill.run(m.version, m.name, Date.now());
  })();
  const applied = new Set((db.prepare('SELECT version FROM schema_migrations').all() as { version: number }[]).map((r) => r.version));
  const record = db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
  for (const m of sorted) {
    if (applied.has(m.version)) continue;
    db.transaction(() => {
      db.exec(m.sql);
      record.run(m.version, m.name, Date.now());
      const current = db.pragma('user_version', { simple: true }) as number;
      if (m.version > current) db.pragma(`user_version = ${m.version}`);
    })();
  }
}
