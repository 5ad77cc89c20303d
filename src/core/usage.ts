/** One finished (or failed) request, as accounted. Carries no prompt or answer text. */
export interface UsageEntry {
  requestId: string;
  createdAt: Date;
  apiKeyId?: string;
  /** Pseudonymous subject (never an e-mail or name). */
  subject?: string;
  /** e.g. `/v1/chat/completions`. */
  endpoint: string;
  protocol: 'openai' | 'ollama';
  model: string;
  node?: string;
  /** HTTP status the client saw (499 when it went away). */
  status: number;
  errorCode?: string;
  promptTokens: number;
  completionTokens: number;
  ttftMs?: number;
  durationMs: number;
  queueMs?: number;
  /** The group (course) the request was made for, when it was made for one. */
  groupId?: string;
  /** GPU energy attributed to the request (Wh), when its node reports telemetry (set by the energy meter). */
  energyWh?: number;
  /** Scheduler priority class the request ran in (metrics only; not stored). */
  priorityClass?: string;
}

export interface UsageSink {
  /** Synchronous and cheap: implementations buffer and write in batches off the response path. */
  record(entry: UsageEntry): void;
  /**
   * When set, a successful reply ends only once this resolves: every record handed over so far
   * is written (group commit, `cluster.usage_before_reply`), so a replica killed right after a
   * reply loses no record of it. Resolves (never rejects) also when the write failed.
   */
  settled?(): Promise<void>;
}
