import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { Readable } from "node:stream";
import type Dockerode from "dockerode";

/** What the first task's httpd serves: the traffic driver fetches it. */
export const PAYLOAD = { path: "/payload.bin", bytes: 64 * 1024 } as const;

const REPOSITORY = "nomad-idle-monitor-test";
const BUSYBOX = "/bin/busybox";
const APPLETS = ["sh", "sleep", "httpd", "nc", "ip", "cat", "wc", "dd", "head", "ls", "ps", "echo", "wget"];
// `docker import` takes no Dockerfile, only these instructions.
const CHANGES = ["LABEL nomad-idle-monitor.test=1", "ENV PATH=/bin", 'CMD ["/bin/sh"]'];

/**
 * Returns the ref of the busybox test image, importing it first if this exact definition (tar
 * content + changes) has not been imported yet: the tag is a hash of both.
 */
export async function ensureTestImage(docker: Dockerode): Promise<string> {
  const rootfs = buildRootfsTar(readStaticBusybox());
  const tag = `busybox-${createHash("sha256").update(rootfs).update(CHANGES.join("\n")).digest("hex").slice(0, 12)}`;
  const ref = `${REPOSITORY}:${tag}`;
  if (await imageExists(docker, ref)) return ref;

  const progress = await docker.importImage(Readable.from([rootfs]), {
    repo: REPOSITORY,
    tag,
    changes: CHANGES,
  });
  await new Promise<void>((resolve, reject) =>
    docker.modem.followProgress(progress, (error: Error | null, events: Array<{ error?: string }>) => {
      const failure = error?.message ?? events.find((event) => event.error)?.error;
      if (failure) reject(new Error(`docker import of ${ref} failed: ${failure}`));
      else resolve();
    }),
  );
  if (!(await imageExists(docker, ref)))
    throw new Error(`docker import reported success but ${ref} is missing`);
  return ref;
}

async function imageExists(docker: Dockerode, ref: string): Promise<boolean> {
  try {
    await docker.getImage(ref).inspect();
    return true;
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) return false;
    throw error;
  }
}

function readStaticBusybox(): Buffer {
  const missing = `The test image needs a statically linked ${BUSYBOX}: apt-get install busybox-static`;
  if (!existsSync(BUSYBOX)) throw new Error(missing);
  const binary = readFileSync(BUSYBOX);
  // Debian's dynamic `busybox` package installs the same path; it would not run in an image without libc.
  if (hasInterpreter(binary)) throw new Error(`${missing} (${BUSYBOX} is dynamically linked)`);
  return binary;
}

/** True when the 64-bit little-endian ELF has a PT_INTERP program header (i.e. is dynamically linked). */
function hasInterpreter(elf: Buffer): boolean {
  const isElf64LittleEndian = elf.readUInt32BE(0) === 0x7f454c46 && elf[4] === 2 && elf[5] === 1;
  if (!isElf64LittleEndian) throw new Error(`${BUSYBOX} is not a 64-bit little-endian ELF binary`);
  const headersAt = Number(elf.readBigUInt64LE(0x20));
  const headerSize = elf.readUInt16LE(0x36);
  const headerCount = elf.readUInt16LE(0x38);
  const PT_INTERP = 3;
  for (let i = 0; i < headerCount; i++) {
    if (elf.readUInt32LE(headersAt + i * headerSize) === PT_INTERP) return true;
  }
  return false;
}

type TarEntry =
  | { kind: "dir"; path: string; mode: number }
  | { kind: "file"; path: string; mode: number; content: Buffer }
  | { kind: "symlink"; path: string; target: string };

function buildRootfsTar(busybox: Buffer): Buffer {
  const dirs = ["bin", "dev", "etc", "proc", "sys", "www"].map(
    (path) => ({ kind: "dir", path, mode: 0o755 }) as const,
  );
  const entries: TarEntry[] = [
    ...dirs,
    { kind: "dir", path: "tmp", mode: 0o1777 },
    { kind: "file", path: "bin/busybox", mode: 0o755, content: busybox },
    ...APPLETS.map((applet) => ({ kind: "symlink", path: `bin/${applet}`, target: "busybox" }) as const),
    {
      kind: "file",
      path: "www/index.html",
      mode: 0o644,
      content: Buffer.from("nomad-idle-monitor test task\n"),
    },
    { kind: "file", path: `www${PAYLOAD.path}`, mode: 0o644, content: payload() },
  ];
  return Buffer.concat([...entries.flatMap(tarRecords), Buffer.alloc(1024)]);
}

/** Incompressible-looking but deterministic bytes, so the image hash stays stable. */
function payload(): Buffer {
  const bytes = Buffer.alloc(PAYLOAD.bytes);
  let state = 0x2545f491;
  for (let i = 0; i < bytes.length; i++) {
    state = (state * 1103515245 + 12345) >>> 0;
    bytes[i] = state >>> 24;
  }
  return bytes;
}

/** One ustar header (plus content padded to 512 bytes); mtime 0 and root ownership keep the tar reproducible. */
function tarRecords(entry: TarEntry): Buffer[] {
  const header = Buffer.alloc(512);
  const content = entry.kind === "file" ? entry.content : Buffer.alloc(0);
  const name = entry.kind === "dir" ? `${entry.path}/` : entry.path;
  const mode = entry.kind === "symlink" ? 0o777 : entry.mode;
  const typeflag = { file: "0", symlink: "2", dir: "5" }[entry.kind];
  header.write(name, 0, 100, "utf8");
  header.write(octal(mode, 7), 100);
  header.write(octal(0, 7), 108);
  header.write(octal(0, 7), 116);
  header.write(octal(content.length, 11), 124);
  header.write(octal(0, 11), 136);
  header.write(" ".repeat(8), 148);
  header.write(typeflag, 156);
  if (entry.kind === "symlink") header.write(entry.target, 157, 100, "utf8");
  header.write("ustar\u000000", 257);
  header.write("root", 265);
  header.write("root", 297);
  const checksum = header.reduce((sum, byte) => sum + byte, 0);
  header.write(`${octal(checksum, 6)}\u0000 `, 148);
  const padding = Buffer.alloc((512 - (content.length % 512)) % 512);
  return [header, content, padding];
}

function octal(value: number, width: number): string {
  return value.toString(8).padStart(width, "0");
}
