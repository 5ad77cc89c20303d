import { z } from 'zod';

/**
 * Wire schemas of Flexi's own browser-auth (/auth) and admin (/admin/v1) APIs. Field sizes
 * are bounded here so oversized input gets a 400 naming the field before any work is done.
 */

const email = z.string().max(254).describe('E-mail address (case-insensitive).');
const roleName = z.string().max(32);
const password = z.string().min(8).max(1024);
const scope = z.string().max(210).describe('`model:<glob>`, `endpoint:<glob>` (binds every route), `course:<glob>` (may send `x-flexi-course`) or `admin` (a key with scopes reaches /admin/v1 only with it).');
const expiresInDays = z.number().positive().max(3650).describe('The key stops working after this many days.');

export const loginRequestSchema = z.object({
  email,
  password: z.string().max(1024),
}).strict();

/** POST /auth/password: a signed-in user changes their own password. */
export const changePasswordRequestSchema = z.object({
  current_password: z.string().max(1024).describe('The password the user signs in with now.'),
  new_password: password.describe('The new password, 8 to 1024 characters.'),
}).strict();

export const selfKeyRequestSchema = z.object({
  name: z.string().min(1).max(100),
  scopes: z.array(scope).max(50).optional(),
  expires_in_days: expiresInDays.optional(),
}).strict();

export const createUserRequestSchema = z.object({
  email,
  roles: z.array(roleName).min(1).max(20).optional(),
  role: roleName.optional(),
  password: password.optional(),
  display_name: z.string().max(200).optional(),
}).strict();

export const updateUserRequestSchema = z.object({
  roles: z.array(roleName).min(1).max(20).optional(),
  disabled: z.boolean().optional(),
  password: password.optional(),
  display_name: z.string().max(200).nullable().optional(),
}).strict();

export const createGroupRequestSchema = z.object({
  name: z.string().min(1).max(100),
  kind: z.enum(['course', 'institute', 'other']).optional(),
  description: z.string().max(500).optional(),
}).strict();

export const addMemberRequestSchema = z.object({
  user: z.string().min(1).max(254).describe('User id or e-mail.'),
  role: z.enum(['member', 'owner']).optional(),
}).strict();

export const createKeyRequestSchema = z.object({
  user: z.string().min(1).max(254).optional().describe('Owner (id or e-mail); omit for an operator key.'),
  name: z.string().min(1).max(100),
  role: roleName.optional(),
  scopes: z.array(scope).max(50).optional(),
  expires_in_days: expiresInDays.optional(),
}).strict();

export type CreateUserRequest = z.infer<typeof createUserRequestSchema>;

/** One node of `GET /admin/v1/nodes`: what `flexi nodes status` and the admin page show. */
export interface AdminNode {
  name: string;
  type: string;
  /** Last health probe; null when the scheduler is off (nothing probes). */
  healthy: boolean | null;
  draining: boolean;
  breaker: string | null;
  in_flight: number;
  /** Models in the node's memory, including those still loading ahead of demand. */
  resident: string[];
  /** Resident models the scheduler is still preloading (replica preloading): not ready yet. */
  preloading: string[];
  models: string[];
  /** Requests per model the scheduler sends to this node at once now (the learned limit). */
  slots: Record<string, number>;
  /** Per model: the learned concurrency limit, its ceiling and whether it is still learning. */
  concurrency: Record<string, AdminNodeConcurrency>;
  listing_error: string | null;
}

/** The adaptive concurrency limit of one model on one node. */
export interface AdminNodeConcurrency {
  /** Requests sent at once now (same as `slots`). */
  limit: number;
  /** Ceiling: the node's configured `slots`, else the learner's maximum. */
  max: number;
  /** `learning` (probing upward), `steady` (found where the node queues), `fixed` (not learned: embedded engine). */
  phase: 'learning' | 'steady' | 'fixed';
  /** Finished requests learned from. */
  samples: number;
}

/**
 * `AdminNode` as any server version sends it: those before replica preloading omit `preloading`,
 * those before adaptive concurrency omit `concurrency`.
 */
export type AdminNodeReply = Omit<AdminNode, 'preloading' | 'concurrency'> & Partial<Pick<AdminNode, 'preloading' | 'concurrency'>>;

/** An API key as `GET /admin/v1/keys` and `/auth/keys` list it: never the key or its hash. */
export interface AdminApiKey {
  id: string;
  name: string;
  /** The first characters of the key (`flx-abcd1234`), enough to recognise it. */
  prefix: string;
  /** The owner; null for a service key. */
  user_id: string | null;
  /** The role a service key acts with; null for a user's key (the user's roles apply). */
  role: string | null;
  /** What the key may reach (`model:<glob>`, `endpoint:<path>`, …); null for no limit beyond the role. */
  scopes: string[] | null;
  created_at: string;
  expires_at: string | null;
  last_used_at: string | null;
  revoked_at: string | null;
}

/** `POST /admin/v1/keys` and `POST /auth/keys`: the key itself, shown this once. */
export interface CreatedApiKey extends AdminApiKey {
  key: string;
}

/** Per model in `GET /admin/v1/scheduler` (the part the admin page and `flexi nodes queues` read). */
export interface AdminSchedulerModel {
  model: string;
  /** Waiting requests per priority class, classes in the server's order (highest first). */
  queuedByClass: Record<string, number>;
  /** Running requests per priority class (servers before 0.1 omit it). */
  inFlightByClass?: Record<string, number>;
  inFlight: number;
  /** Requests completed per second recently (what Retry-After is computed from). */
  drainRatePerSecond?: number;
}

/** `GET /admin/v1/scheduler`, as far as the admin page reads it. */
export interface AdminSchedulerReply {
  models: AdminSchedulerModel[];
  /** Users with at least one request running. */
  activeUsers: number;
}
