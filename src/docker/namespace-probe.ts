import { closeSync, openSync, readSync } from "node:fs";
import { join } from "node:path";
import { externalTrafficBytes } from "./net-dev.js";

/** Shared by every read: they are synchronous, so one at a time. Tables longer than this are read in parts. */
const buffer = Buffer.alloc(64 * 1024);

export type ProbeOpening =
  | { probe: NamespaceProbe }
  /** `processesVisible` false: the PID is not the container's under procRoot (PROC_ROOT is not the host's /proc). */
  | { reason: string; processesVisible: boolean };

export type ProbeRead = { bytes: number } | { reason: string; exited: boolean };

/**
 * Two descriptors kept open on one namespace owner's process: `net/dev`, its counters, and `comm`, its
 * liveness. A kept `net/dev` descriptor holds the namespace itself, so after the process has exited it
 * keeps answering the frozen counters of the last moment — read as quiet, that would be a false stop.
 * The `comm` descriptor is bound to the process and fails with ESRCH once it is gone: it is read after the
 * counters on every cycle, so counters are trusted only from a process still alive after the read.
 * `comm` because it is the cheapest file that fails so: at 778 namespaces on 2 busy cores, reading every
 * `comm` took ~3 ms of CPU, `stat` ~7 ms, `cgroup` ~14 ms (ten cgroup v1 hierarchies). A process that
 * exited but is not yet reaped (its shim reaps it at once) still reads: that moment's counters are its
 * last ones anyway. Where procRoot has no `comm` (a copy of /proc, as the tests make), the `cgroup`
 * descriptor opened for the check stays open as the liveness check instead.
 */
export class NamespaceProbe {
  #closed = false;

  private constructor(
    readonly pid: number,
    private readonly netDev: number,
    private readonly liveness: number,
    private readonly netDevPath: string,
  ) {}

  /**
   * Opens the probe of the container's process `pid`, trusted only once its cgroup names the container
   * (nomad-api-notes.md): when PROC_ROOT is not the host's /proc, Docker's PID names another process.
   */
  static open(procRoot: string, pid: number, containerId: string): ProbeOpening {
    const notVisible = {
      reason: `cannot see the container's processes under ${procRoot}: mount the host's /proc`,
      processesVisible: false,
    };
    const processDir = join(procRoot, String(pid));
    let cgroup: number;
    try {
      cgroup = openSync(join(processDir, "cgroup"), "r");
    } catch {
      return notVisible;
    }
    const netDevPath = join(processDir, "net", "dev");
    let netDev: number | undefined;
    let openFailure: unknown;
    try {
      netDev = openSync(netDevPath, "r");
    } catch (error) {
      openFailure = error;
    }
    let liveness = cgroup;
    if (netDev !== undefined) {
      try {
        liveness = openSync(join(processDir, "comm"), "r");
      } catch {
        // No comm under procRoot: the cgroup descriptor serves.
      }
    }
    // Read once, after the opens by path: the cgroup descriptor is bound to the process it was opened on,
    // so a read that succeeds means that process lived through every open, and they all named it (a PID
    // is not reused while it lives). Whatever the cgroup layout — `/docker/<id>` (cgroupfs),
    // `docker-<id>.scope` (systemd), or a path relative to a private cgroup namespace — the full
    // container ID appears in it.
    const cgroupText = readAll(cgroup);
    const closeAll = () => {
      if (netDev !== undefined) closeSync(netDev);
      if (liveness !== cgroup) closeSync(liveness);
      closeSync(cgroup);
    };
    if (typeof cgroupText !== "string") {
      closeAll();
      return { reason: `process ${pid} exited`, processesVisible: true };
    }
    if (!cgroupText.includes(containerId)) {
      closeAll();
      return notVisible;
    }
    if (netDev === undefined) {
      closeSync(cgroup);
      return { reason: `cannot read ${netDevPath}: ${messageOf(openFailure)}`, processesVisible: true };
    }
    if (liveness !== cgroup) closeSync(cgroup);
    return { probe: new NamespaceProbe(pid, netDev, liveness, netDevPath) };
  }

  /** Rx+Tx bytes of every interface but `lo`, from a process still alive after the read. */
  read(): ProbeRead {
    if (this.#closed) return { reason: `process ${this.pid} exited`, exited: true };
    const table = readAll(this.netDev);
    if (typeof table !== "string") {
      return { reason: `cannot read ${this.netDevPath}: ${table.message}`, exited: false };
    }
    // ESRCH (or any failure) here: the process is gone, and the table just read may be frozen.
    if (!readable(this.liveness)) {
      return { reason: `process ${this.pid} exited`, exited: true };
    }
    try {
      return { bytes: externalTrafficBytes(table) };
    } catch (error) {
      return { reason: `cannot read ${this.netDevPath}: ${messageOf(error)}`, exited: false };
    }
  }

  /** Whether the process is still alive (its liveness descriptor still reads). */
  alive(): boolean {
    return !this.#closed && readable(this.liveness);
  }

  /** Closes both descriptors at once: a kept `net/dev` descriptor keeps a dead namespace in memory. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    closeSync(this.netDev);
    closeSync(this.liveness);
  }
}

/** The whole file from offset 0, read synchronously: a /proc read is a few microseconds of kernel work. */
function readAll(fd: number): string | Error {
  try {
    let length = readSync(fd, buffer, 0, buffer.length, 0);
    if (length < buffer.length) return buffer.toString("latin1", 0, length);
    const parts = [Buffer.from(buffer.subarray(0, length))];
    for (let read = length; read > 0; length += read) {
      read = readSync(fd, buffer, 0, buffer.length, length);
      parts.push(Buffer.from(buffer.subarray(0, read)));
    }
    return Buffer.concat(parts).toString("latin1");
  } catch (error) {
    return error as Error;
  }
}

/** Whether a read from offset 0 succeeds; what it reads is not needed. */
function readable(fd: number): boolean {
  try {
    readSync(fd, buffer, 0, buffer.length, 0);
    return true;
  } catch {
    return false;
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
