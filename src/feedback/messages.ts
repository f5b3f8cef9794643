/**
 * Host-facing text of the feedback events (PROTOCOL.md §5 `message` and `tips`) in the locales of
 * FEEDBACK_LOCALE: `en` and `pt-BR`. Messages name the participant and the measured figure; tips are what
 * the host can suggest.
 */
import type { FeedbackKind } from './rules.js';

export type Locale = 'en' | 'pt-BR';

/** What a message may mention. */
export interface MessageFacts {
  /** Display name, else identity. */
  name: string;
  rmsDbfs?: number | null;
  silentSec?: number;
  overlapSec?: number;
  /** The other participant of an overlap. */
  otherName?: string;
  floorMin?: number;
}

type Text = { message: (f: MessageFacts) => string; tips: string[] };

const TEXT: Record<Locale, Record<FeedbackKind, Text>> = {
  en: {
    volume_low: {
      message: (f) => `${f.name} is hard to hear (speech at ${f.rmsDbfs ?? '?'} dBFS).`,
      tips: ['Ask them to move closer to the microphone.', 'Suggest raising the input volume or using a headset.'],
    },
    volume_high: {
      message: (f) => `${f.name} is too loud or distorted (speech at ${f.rmsDbfs ?? '?'} dBFS).`,
      tips: ['Ask them to move back from the microphone.', 'Suggest lowering the input gain.'],
    },
    silence_prolonged: {
      message: (f) => `${f.name} has not spoken for ${f.silentSec ?? '?'} s.`,
      tips: ['Invite them into the conversation with a direct question.', 'Check that their microphone works.'],
    },
    speech_overlap: {
      message: (f) => `${f.name} started speaking over ${f.otherName ?? 'another participant'} (${f.overlapSec ?? '?'} s of overlap).`,
      tips: ['Agree on taking turns.', 'Let the first speaker finish, then give the floor.'],
    },
    monologue_prolonged: {
      message: (f) => `${f.name} has held the floor for ${f.floorMin ?? '?'} min.`,
      tips: ['Summarise and open the floor to others.', 'Ask the other participants for their view.'],
    },
  },
  'pt-BR': {
    volume_low: {
      message: (f) => `${f.name} está difícil de ouvir (fala a ${f.rmsDbfs ?? '?'} dBFS).`,
      tips: ['Peça para se aproximar do microfone.', 'Sugira aumentar o volume de entrada ou usar um fone com microfone.'],
    },
    volume_high: {
      message: (f) => `${f.name} está alto demais ou distorcido (fala a ${f.rmsDbfs ?? '?'} dBFS).`,
      tips: ['Peça para se afastar do microfone.', 'Sugira reduzir o ganho de entrada.'],
    },
    silence_prolonged: {
      message: (f) => `${f.name} não fala há ${f.silentSec ?? '?'} s.`,
      tips: ['Convide a pessoa a participar com uma pergunta direta.', 'Verifique se o microfone dela funciona.'],
    },
    speech_overlap: {
      message: (f) => `${f.name} começou a falar por cima de ${f.otherName ?? 'outra pessoa'} (${f.overlapSec ?? '?'} s de sobreposição).`,
      tips: ['Combinem a vez de cada um falar.', 'Deixe quem começou terminar e depois passe a palavra.'],
    },
    monologue_prolonged: {
      message: (f) => `${f.name} está com a palavra há ${f.floorMin ?? '?'} min.`,
      tips: ['Resuma e abra a palavra aos demais.', 'Pergunte a opinião dos outros participantes.'],
    },
  },
};

/** Severity of each kind (PROTOCOL.md §5 `severity`). */
export const SEVERITY: Record<FeedbackKind, 'info' | 'warning'> = {
  volume_low: 'warning', volume_high: 'warning', silence_prolonged: 'info', speech_overlap: 'warning', monologue_prolonged: 'info',
};

/** `message` and `tips` of a finding in `locale`. */
export function describe(locale: Locale, kind: FeedbackKind, facts: MessageFacts): { message: string; tips: string[] } {
  const t = TEXT[locale][kind];
  return { message: t.message(facts), tips: [...t.tips] };
}
