/**
 * Wire types of the unauthenticated probe routes (`/healthz`, `/readyz`), for Kubernetes,
 * load balancers and monitoring.
 */

/** A node as `/readyz` reports it. */
export interface ReadinessNode {
  name: string;
  /** Engine: `ollama`, `openai`, `sim`, `embedded`. */
  type: string;
  /**
   * `ready`: listed its models and passes health probes; `down`: unreachable or failing its probes;
   * `failing`: its circuit breaker is open after errors; `draining`: an operator drained it.
   */
  state: 'ready' | 'down' | 'failing' | 'draining';
  /** Models this node serves now (canonical names). */
  models: string[];
  /** The last error listing its models, or null. */
  error: string | null;
}

/** `GET /readyz`: 200 when `status` is `ready`, else 503. */
export interface ReadinessReply {
  status: 'ready' | 'not_ready';
  /** What makes this replica not ready (`database`, `redis`); empty when ready. */
  down: string[];
  /** `ok`, or why the database check failed; absent without a database. */
  database?: string;
  /** `ok`, or why the Redis check failed; absent when no `redis.url` is configured. */
  redis?: string;
  /** Models served by at least one node. */
  models: number;
  /** Nodes in state `ready`. Reported, but no node ready does not make the gateway not ready. */
  nodes_ready: number;
  nodes: ReadinessNode[];
}
