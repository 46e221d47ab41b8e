import type { EventBatch, NomadEvent } from "./model.js";

export const ALL = "*";

export interface SubscribeRequest {
  /** Topic → filter keys; topic `*` stands for every topic, key `*` for every key. */
  topics: ReadonlyMap<string, readonly string[]>;
  namespace: string;
  index: number;
  /** The token the subscription was opened with, so revoking it can end the subscription. */
  token: string | undefined;
}

export interface Subscriber {
  deliver(batch: EventBatch): void;
  /** The server ends the subscription with a plain-text last line. */
  end(lastLine: string): void;
}

export interface Subscription {
  unsubscribe(): void;
}

/**
 * Nomad's event publisher: a buffer of the last `capacity` batches (one per raft index) and the
 * live subscriptions, with the resume rules of nomad-api-notes.md "Event stream".
 */
export class EventBroker {
  readonly #buffer: EventBatch[] = [];
  readonly #subscriptions = new Map<object, { request: SubscribeRequest; subscriber: Subscriber }>();

  constructor(private readonly capacity: number) {}

  publish(batch: EventBatch): void {
    this.#buffer.push(batch);
    if (this.#buffer.length > this.capacity) this.#buffer.shift();
    for (const { request, subscriber } of [...this.#subscriptions.values()])
      offer(request, subscriber, batch);
  }

  /**
   * Replays the buffered batches from `request.index` (inclusive; an index older than the buffer
   * starts at the oldest batch, one newer than the last batch waits for it), then delivers live ones.
   */
  subscribe(request: SubscribeRequest, subscriber: Subscriber): Subscription {
    const key = {};
    for (const batch of this.#buffer) offer(request, subscriber, batch);
    this.#subscriptions.set(key, { request, subscriber });
    return { unsubscribe: () => this.#subscriptions.delete(key) };
  }

  /** Ends every subscription opened with `token`, the way Nomad does when a token changes. */
  endSubscriptionsOf(token: string, lastLine: string): void {
    for (const [key, { request, subscriber }] of [...this.#subscriptions]) {
      if (request.token !== token) continue;
      this.#subscriptions.delete(key);
      subscriber.end(lastLine);
    }
  }
}

function offer(request: SubscribeRequest, subscriber: Subscriber, batch: EventBatch): void {
  // Batches older than the asked index are skipped; when the index is older than the whole buffer
  // every buffered batch is at or above it anyway, which is the "silently start at the oldest" rule.
  if (batch.Index < request.index) return;
  const events = batch.Events.filter((event) => matches(request, event));
  if (events.length > 0) subscriber.deliver({ Index: batch.Index, Events: events });
}

function matches(request: SubscribeRequest, event: NomadEvent): boolean {
  if (request.namespace !== ALL && event.Namespace !== request.namespace) return false;
  const keys = request.topics.get(event.Topic) ?? request.topics.get(ALL);
  if (!keys) return false;
  return keys.some((key) => key === ALL || key === event.Key || (event.FilterKeys ?? []).includes(key));
}
