import type { IncomingMessage } from "node:http";
import { type Cancel, type Clock, systemClock } from "../clock.js";
import { backoffDelay } from "../retry.js";
import { limiter } from "./bounded.js";
import {
  type ContainerEvent,
  type DockerEngineClient,
  DockerEngineError,
  type ListedContainer,
} from "./engine-client.js";
import { NamespaceProbe } from "./namespace-probe.js";
import { type NomadContainer, ownsNamespace } from "./network-namespaces.js";

/** The one label Nomad's docker driver always sets (nomad-api-notes.md, "Docker task driver"). */
export const ALLOC_ID_LABEL = "com.hashicorp.nomad.alloc_id";
const LIST_FILTERS = { label: [ALLOC_ID_LABEL] };
const EVENT_FILTERS = {
  type: ["container"],
  event: ["start", "die", "destroy", "rename"],
  label: [ALLOC_ID_LABEL],
};
// Measured on 2 cores, 778 inspects: 1.3 s with 8 in flight, 2.0 s with 32 (dockerd and this process contend).
const DEFAULT_CONCURRENCY = 8;
/** Docker's event stream has no heartbeat: a ping now and then notices a connection that died silently. */
const DEFAULT_PING_INTERVAL_MS = 30_000;
const DEFAULT_RECONNECT = { initialMs: 1_000, maxMs: 30_000 };

/** A running container of an allocation, and what is known of its process. */
export interface TrackedContainer {
  container: NomadContainer;
  /** Open while the namespace owner's process is known alive; closed on `die`. */
  probe?: NamespaceProbe;
  /** Why there is no probe; `processesVisible` false when the PID is not the container's under procRoot. */
  failure?: { reason: string; processesVisible: boolean | undefined };
  /** The PID Docker gave, to open the probe again without asking Docker. */
  pid?: number;
  /** Bumped by every event about the container, so that a slower inspect never overwrites a newer one. */
  generation: number;
  /** The inspect queued or in flight. */
  inspecting?: Promise<void>;
}

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
  readonly #procRoot: string;
  readonly #pingIntervalMs: number;
  readonly #reconnect: { initialMs: number; maxMs: number };
  readonly #containers = new Map<string, TrackedContainer>();
  readonly #queue: <R>(task: () => Promise<R>) => Promise<R>;
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
    concurrency = DEFAULT_CONCURRENCY,
    pingIntervalMs = DEFAULT_PING_INTERVAL_MS,
    reconnect = DEFAULT_RECONNECT,
    clock = systemClock,
  }: ContainerWatchOptions) {
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      throw new RangeError(`concurrency must be a positive integer, got ${concurrency}`);
    }
    this.#engine = engine;
    this.#procRoot = procRoot;
    this.#queue = limiter(concurrency);
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

  /** Newline-separated JSON objects, one per event, until the stream ends. */
  #follow(events: IncomingMessage, stream: AbortController): void {
    let rest = "";
    events.setEncoding("utf8");
    events.on("data", (chunk: string) => {
      const lines = (rest + chunk).split("\n");
      rest = lines.pop() ?? "";
      for (const line of lines) {
        if (line.trim() === "") continue;
        let event: ContainerEvent;
        try {
          event = JSON.parse(line) as ContainerEvent;
        } catch {
          continue; // not an event: nothing to apply
        }
        if (this.#buffered) this.#buffered.push(event);
        else this.#apply(event);
      }
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
      this.#queueInspect(tracked, announce);
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
        this.#queueInspect(tracked, true);
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

  #queueInspect(tracked: TrackedContainer, announce: boolean): void {
    const generation = ++tracked.generation;
    tracked.probe?.close();
    tracked.probe = undefined;
    const inspecting = this.#queue(() => this.#inspect(tracked, generation, announce)).finally(() => {
      if (tracked.inspecting === inspecting) tracked.inspecting = undefined;
    });
    tracked.inspecting = inspecting;
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

  async #inspect(tracked: TrackedContainer, generation: number, announce: boolean): Promise<void> {
    const { id } = tracked.container;
    // Dropped or superseded while it waited in the queue.
    if (tracked.generation !== generation || this.#containers.get(id) !== tracked) return;
    const shortId = id.slice(0, 12);
    let failure: TrackedContainer["failure"];
    try {
      const inspected = await this.#engine.inspectContainer(id);
      if (tracked.generation !== generation || this.#containers.get(id) !== tracked) return;
      tracked.container = {
        ...tracked.container,
        names: [inspected.Name],
        networkMode: inspected.HostConfig.NetworkMode ?? "default",
      };
      const pid = inspected.State.Pid;
      if (!inspected.State.Running || pid <= 0) {
        this.#drop(id);
        return;
      }
      tracked.pid = pid;
      failure = this.openProbe(tracked);
    } catch (error) {
      if (tracked.generation !== generation) return;
      if (error instanceof DockerEngineError && error.statusCode === 404) {
        this.#drop(id);
        return;
      }
      failure = {
        reason: `cannot inspect container ${shortId}: ${messageOf(error)}`,
        processesVisible: undefined,
      };
    }
    tracked.failure = failure;
    this.#version++;
    if (announce) for (const listener of this.#inspectedListeners) listener(tracked.container.allocId);
  }

  /** Opens the namespace probe of a container that owns one, from the PID Docker gave; no Docker call. */
  openProbe(tracked: TrackedContainer): TrackedContainer["failure"] {
    if (tracked.pid === undefined || !ownsNamespace(tracked.container.networkMode)) return undefined;
    const opening = NamespaceProbe.open(this.#procRoot, tracked.pid, tracked.container.id);
    if ("probe" in opening) {
      tracked.probe = opening.probe;
      return undefined;
    }
    return opening;
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
