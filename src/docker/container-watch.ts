import type { IncomingMessage } from "node:http";
import { type Cancel, type Clock, systemClock } from "../clock.js";
import { backoffDelay } from "../retry.js";
import { Inspections, messageOf, type TrackedContainer } from "./container-inspect.js";
import {
  type ContainerEvent,
  type DockerEngineClient,
  eachEvent,
  type ListedContainer,
} from "./engine-client.js";
import { type NomadContainer, ownsNamespace } from "./network-namespaces.js";

/** The one label Nomad's docker driver always sets (nomad-api-notes.md, "Docker task driver"). */
export const ALLOC_ID_LABEL = "com.hashicorp.nomad.alloc_id";
const LIST_FILTERS = { label: [ALLOC_ID_LABEL] };
const EVENT_FILTERS = {
  type: ["container"],
  event: ["start", "die", "destroy", "rename"],
  label: [ALLOC_ID_LABEL],
};
/** Docker's event stream has no heartbeat: a ping now and then notices a connection that died silently. */
const DEFAULT_PING_INTERVAL_MS = 30_000;
const DEFAULT_RECONNECT = { initialMs: 1_000, maxMs: 30_000 };

export interface ContainerWatchOptions {
  engine: DockerEngineClient;
  procRoot: string;
  /** Inspects in flight at once (the seed and relists inspect every container that owns a namespace). */
  concurrency?: number;
  pingIntervalMs?: number;
  reconnect?: { initialMs: number; maxMs: number };
  /** The ping and the reconnect backoff run on it. */
  clock?: Clock;
}

/**
 * The running containers Nomad started on this node, kept current from the Docker Engine's event stream
 * (`start`, `die`, `destroy`, `rename` of containers with the alloc-ID label): seeded by one list, relisted on
 * every reconnect — the stream opens before the list, and the events that came during the list are
 * applied after it (seed → observe → reconcile). A container is inspected once, when it appears; its
 * namespace probe is opened then and closed on `die`. Apart from a `_ping` every 30 s, nothing is asked
 * of Docker while the stream stays up.
 */
export class ContainerWatch {
  readonly #engine: DockerEngineClient;
  readonly #pingIntervalMs: number;
  readonly #reconnect: { initialMs: number; maxMs: number };
  readonly #containers = new Map<string, TrackedContainer>();
  readonly #inspections: Inspections;
  /** The allocations sampled last: their containers are inspected first. */
  #wanted: ReadonlySet<string> = new Set();
  readonly #inspectedListeners: Array<(allocId: string) => void> = [];
  /** Events that arrive while a list is in flight wait here until it has been applied. */
  #buffered: ContainerEvent[] | undefined;
  #stream: AbortController | undefined;
  #connected = false;
  #connecting: Promise<void> | undefined;
  #reconnectTimer: Cancel | undefined;
  #reconnectAttempt = 0;
  #pingTimer: Cancel | undefined;
  readonly #clock: Clock;
  #closed = false;
  #seeded = false;
  #version = 0;

  constructor({
    engine,
    procRoot,
    concurrency,
    pingIntervalMs = DEFAULT_PING_INTERVAL_MS,
    reconnect = DEFAULT_RECONNECT,
    clock = systemClock,
  }: ContainerWatchOptions) {
    this.#engine = engine;
    this.#inspections = new Inspections(engine, procRoot, concurrency, {
      holds: (tracked) => this.#containers.get(tracked.container.id) === tracked,
      drop: (id) => this.#drop(id),
      changed: () => this.#version++,
      announce: (allocId) => {
        for (const listener of this.#inspectedListeners) listener(allocId);
      },
    });
    this.#pingIntervalMs = pingIntervalMs;
    this.#reconnect = reconnect;
    this.#clock = clock;
  }

  /** Changes whenever the set of containers or what is known of them changes. */
  get version(): number {
    return this.#version;
  }

  containers(): NomadContainer[] {
    return [...this.#containers.values()].map((tracked) => tracked.container);
  }

  tracked(containerId: string): TrackedContainer | undefined {
    return this.#containers.get(containerId);
  }

  /** Called with the allocation of every container inspected after the first seed (started, or relisted). */
  onInspected(listener: (allocId: string) => void): void {
    this.#inspectedListeners.push(listener);
  }

  /**
   * Resolves once the stream is up, the set seeded, and the inspects of the allocations' containers
   * done (those of other containers go on in the background). When the stream is down it connects and
   * relists now, and throws if the Docker Engine does not answer.
   */
  async ready(allocIds: readonly string[]): Promise<void> {
    if (this.#closed) throw new Error("the container watch is closed");
    this.#wanted = new Set(allocIds);
    if (!this.#connected) await (this.#connecting ?? this.#connect());
    await this.settled((tracked) => this.#wanted.has(tracked.container.allocId));
  }

  /** Waits for the inspects of the containers that match, queued or in flight. */
  async settled(matches: (tracked: TrackedContainer) => boolean): Promise<void> {
    for (;;) {
      const pending = [...this.#containers.values()].flatMap((tracked) =>
        tracked.inspecting && matches(tracked) ? [tracked.inspecting] : [],
      );
      if (pending.length === 0) return;
      await Promise.all(pending);
    }
  }

  /** Stops the stream and the timers, closes every descriptor and the client's idle connections. */
  close(): void {
    this.#closed = true;
    this.#disconnect();
    this.#reconnectTimer?.();
    for (const tracked of this.#containers.values()) tracked.probe?.close();
    this.#containers.clear();
    this.#engine.close();
  }

  #connect(): Promise<void> {
    this.#reconnectTimer?.();
    this.#reconnectTimer = undefined;
    const connecting = this.#seed().finally(() => {
      if (this.#connecting === connecting) this.#connecting = undefined;
      if (!this.#connected) this.#scheduleReconnect();
    });
    this.#connecting = connecting;
    return connecting;
  }

  async #seed(): Promise<void> {
    const stream = new AbortController();
    this.#stream = stream;
    this.#buffered = [];
    try {
      const events = await this.#engine.events(EVENT_FILTERS, stream.signal);
      this.#follow(events, stream);
      const listed = await this.#engine.listContainers(LIST_FILTERS);
      if (stream.signal.aborted) throw new Error("the Docker Engine's event stream ended during the list");
      await this.#reconcile(listed);
    } catch (error) {
      this.#buffered = undefined;
      if (this.#stream === stream) this.#disconnect();
      throw new Error(`cannot list containers from the Docker Engine: ${messageOf(error)}`, { cause: error });
    }
    const buffered = this.#buffered ?? [];
    this.#buffered = undefined;
    this.#connected = true;
    this.#reconnectAttempt = 0;
    for (const event of buffered) this.#apply(event);
    this.#pingTimer = this.#clock.every(this.#pingIntervalMs, () => this.#ping(stream));
  }

  /** Applies each event (or keeps it while a list is in flight) until the stream ends. */
  #follow(events: IncomingMessage, stream: AbortController): void {
    eachEvent(events, (event) => {
      if (this.#buffered) this.#buffered.push(event);
      else this.#apply(event);
    });
    const ended = () => {
      if (this.#stream !== stream) return;
      this.#disconnect();
      this.#scheduleReconnect();
    };
    events.on("end", ended);
    events.on("close", ended);
    events.on("error", ended);
  }

  #ping(stream: AbortController): void {
    this.#engine.ping().catch(() => {
      // The stream may look open on a dead connection: take it down and relist.
      if (this.#stream !== stream) return;
      this.#disconnect();
      this.#scheduleReconnect();
    });
  }

  #disconnect(): void {
    this.#connected = false;
    this.#pingTimer?.();
    this.#pingTimer = undefined;
    const stream = this.#stream;
    this.#stream = undefined;
    stream?.abort();
  }

  #scheduleReconnect(): void {
    if (this.#closed || this.#connecting || this.#reconnectTimer !== undefined) return;
    const delay = backoffDelay(this.#reconnectAttempt++, this.#reconnect);
    this.#reconnectTimer = this.#clock.after(delay, () => {
      this.#reconnectTimer = undefined;
      if (!this.#connected && !this.#connecting && !this.#closed) this.#connect().catch(() => {});
    });
  }

  /**
   * The list is the truth: containers it lacks are gone, new ones are inspected, and known ones are
   * inspected again only when their process is no longer alive (restarted while the stream was down).
   */
  async #reconcile(listed: readonly ListedContainer[]): Promise<void> {
    const announce = this.#seeded;
    this.#seeded = true;
    const ids = new Set(listed.map((container) => container.Id));
    for (const id of this.#containers.keys()) if (!ids.has(id)) this.#drop(id);
    const toInspect: TrackedContainer[] = [];
    for (const entry of listed) {
      const allocId = entry.Labels[ALLOC_ID_LABEL];
      if (!allocId) continue;
      const container = {
        id: entry.Id,
        names: entry.Names,
        allocId,
        networkMode: entry.HostConfig?.NetworkMode ?? "default",
      };
      const known = this.#containers.get(entry.Id);
      const tracked = known ?? { container, generation: 0 };
      tracked.container = container;
      this.#containers.set(entry.Id, tracked);
      // Joined and host-networking containers have no namespace of their own: the list says all of them.
      if (!ownsNamespace(container.networkMode)) continue;
      if (!tracked.probe?.alive()) toInspect.push(tracked);
    }
    this.#version++;
    // The containers of the allocations sampled last first: a cycle waits only for those.
    const wanted = (tracked: TrackedContainer) => (this.#wanted.has(tracked.container.allocId) ? 0 : 1);
    for (const tracked of toInspect.sort((a, b) => wanted(a) - wanted(b)))
      this.#inspections.queue(tracked, announce);
  }

  #apply(event: ContainerEvent): void {
    const id = event.Actor.ID;
    const attributes = event.Actor.Attributes ?? {};
    switch (event.Action) {
      case "start": {
        const allocId = attributes[ALLOC_ID_LABEL];
        if (!allocId) return;
        const name = attributes.name ? [`/${attributes.name}`] : [];
        const known = this.#containers.get(id);
        // A start from before the list that seeded a container whose process is alive: nothing new.
        if (known?.probe?.alive()) return;
        const tracked = known ?? {
          // The network mode is not in the event: the inspect fills it in before any cycle reads it.
          container: { id, names: name, allocId, networkMode: "default" },
          generation: 0,
        };
        this.#containers.set(id, tracked);
        this.#version++;
        this.#inspections.queue(tracked, true);
        return;
      }
      case "die":
      case "destroy":
        this.#drop(id);
        return;
      case "rename": {
        const tracked = this.#containers.get(id);
        if (!tracked || !attributes.name) return;
        tracked.container = { ...tracked.container, names: [`/${attributes.name}`] };
        this.#version++;
        return;
      }
    }
  }

  /** A container that died is no longer running: its probe is closed at once, and it leaves the set. */
  #drop(id: string): void {
    const tracked = this.#containers.get(id);
    if (!tracked) return;
    tracked.generation++;
    tracked.probe?.close();
    this.#containers.delete(id);
    this.#version++;
  }

  /** Opens the namespace probe of a container that owns one, from the PID Docker gave; no Docker call. */
  openProbe(tracked: TrackedContainer): TrackedContainer["failure"] {
    return this.#inspections.openProbe(tracked);
  }
}
