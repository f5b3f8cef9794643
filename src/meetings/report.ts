/**
 * The meeting report (issue 14): per-participant and per-meeting conversation figures computed from the native
 * timeline's talk spurts and interruptions (src/meetings/analytics.ts). Live in `GET /feedback/debug/:meetingId`
 * (`report`, `final: false`), final in `GET /api/sessions/:meetingId/report` (stored when the meeting ends; the
 * hosts are told on `feedback:<meetingId>` by `{type: "meeting_report", meetingId, final, durationMs,
 * participantCount, interruptionCount, reportUrl}`).
 *
 * Every time is the stream clock of the egress (Unix ms); every field name carries its unit (Ms, Percent,
 * Count, PerMin).
 *
 * Definitions (the words of the README's "Meeting report" section):
 * - talk spurt: a participant's speech with pauses under 300 ms bridged (SPURT_BRIDGE_MS), as the native
 *   engine reports it ('speech' events);
 * - backchannel: a talk spurt shorter than 1 s (FLOOR_TAKE_MS) that starts while another participant is in a
 *   talk spurt ("mm-hm", "yes"): counted for its speaker, never an interruption, never a turn;
 * - interruption: the native engine's overlap (two participants' talk spurts intersecting for
 *   FEEDBACK_OVERLAP_MS or more, the later speaker's spurt lasting 1 s or more); made by the one whose turn
 *   began later, received by the other. Hosts are included here (feedback events never are about hosts);
 * - turn: a participant holds the floor from a non-backchannel talk spurt started while somebody else held it
 *   (or nobody did), through their next spurts with pauses under 3 s (FLOOR_PAUSE_MS), until somebody else
 *   takes the floor; a pause of 3 s or more also ends it. Its length runs from its first spurt's start to its
 *   last spurt's end; the longest is the longest monologue;
 * - patience: the mean silence between the end of the previous speaker's turn and the start of this
 *   participant's turn, over the turns taken from somebody else (an interruption counts as 0 ms);
 * - speaker switch: a turn whose previous turn was somebody else's;
 * - silence: meeting time in which nobody is in a talk spurt.
 */

/** Figures of one participant. */
export interface ParticipantReport {
  participantId: string;
  /** Display name from the LiveKit metadata or the join, null when unknown. */
  name: string | null;
  isHost: boolean;
  /** Sum of the participant's talk spurts, ms. */
  talkTimeMs: number;
  /** talkTimeMs over the sum of every participant's talkTimeMs, 0..100. */
  talkSharePercent: number;
  turnCount: number;
  longestMonologueMs: number;
  interruptionsMadeCount: number;
  interruptionsReceivedCount: number;
  /** Interruptions this participant made, by the participantId interrupted. */
  interruptedCounts: Record<string, number>;
  /** Interruptions this participant received, by the participantId who interrupted. */
  interruptedByCounts: Record<string, number>;
  backchannelCount: number;
  /** Mean silence before taking the floor from somebody else, ms; null when they never did. */
  patienceMs: number | null;
}

/** A talk spurt on the timeline. */
export interface SpurtMark { participantId: string; startMs: number; endMs: number }
/** An interruption on the timeline: `byParticipantId` started speaking over `ofParticipantId`. */
export interface InterruptionMark { byParticipantId: string; ofParticipantId: string; startMs: number; endMs: number; overlapMs: number }
/** A backchannel on the timeline, by `participantId` while `toParticipantId` spoke. */
export interface BackchannelMark { participantId: string; toParticipantId: string; startMs: number; endMs: number }

/** The whole report. */
export interface MeetingReport {
  meetingId: string;
  /** True once the meeting ended and the report was stored; false for a live view. */
  final: boolean;
  /** First stream start (stream clock), Unix ms; null before any audio. */
  startedAtMs: number | null;
  /** Latest stream time analysed, Unix ms. */
  endedAtMs: number | null;
  durationMs: number;
  /** Union of every participant's talk spurts, ms. */
  speechMs: number;
  /** Share of durationMs in which nobody spoke, 0..100. */
  silenceSharePercent: number;
  speakerSwitchCount: number;
  speakerSwitchesPerMin: number;
  interruptionCount: number;
  backchannelCount: number;
  participants: ParticipantReport[];
  timeline: { spurts: SpurtMark[]; interruptions: InterruptionMark[]; backchannels: BackchannelMark[] };
  /** Wall clock when this report was computed, Unix ms. */
  generatedAt: number;
}
