/**
 * Versioned schema migrations, applied in version order by openDatabase. Never edit a released migration:
 * add a new one. Each lives in its own module, listed here.
 */
import m001 from './001_sessions.js';
import m002 from './002_rooms.js';
import m003 from './003_accounts.js';
import m004 from './004_livekit.js';
import m005 from './005_feedback.js';
import m006 from './006_prosody.js';
import m007 from './007_meeting_reports.js';
import m008 from './008_invitations.js';
import m009 from './009_meeting_report_stamps.js';
import m010 from './010_meeting_report_parts.js';
import m011 from './011_meeting_page_order.js';
import m012 from './012_recording_gaps.js';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const migrations: readonly Migration[] = [m001, m002, m003, m004, m005, m006, m007, m008, m009, m010, m011, m012];
