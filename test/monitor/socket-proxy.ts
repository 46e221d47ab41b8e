import { rmSync } from "node:fs";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * A unix socket that forwards to another socket (the Docker Engine's by default) or a TCP address, so a
 * test can make the engine unreachable for the monitor (and bring it back) without touching the engine
 * the other tests use, or serve the simulator where Nomad's task API socket would be.
 */
export class SocketProxy {
  readonly path = join(tmpdir(), `docker-proxy-${process.pid}-${Math.random().toString(36).slice(2)}.sock`);
  private readonly sockets = new Set<Socket>();
  private server: Server | undefined;

  constructor(private readonly target: string | { host: string; port: number } = "/var/run/docker.sock") {}

  get dockerHost(): string {
    return `unix://${this.path}`;
  }

  async open(): Promise<void> {
    rmSync(this.path, { force: true });
    const server = createServer((client) => {
      const upstream =
        typeof this.target === "string" ? createConnection(this.target) : createConnection(this.target);
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on("close", () => this.sockets.delete(socket));
        socket.on("error", () => socket.destroy());
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => server.listen(this.path, resolve));
    this.server = server;
  }

  /** Stops listening and drops every open connection: the engine is gone as far as clients can tell. */
  async cut(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const socket of this.sockets) socket.destroy();
    if (server) await new Promise((resolve) => server.close(resolve));
    rmSync(this.path, { force: true });
  }
}
