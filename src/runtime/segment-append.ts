/**
 * Appending frames to segment files: the part the durable log (storage.ts) and the audit ledger
 * (ledger.ts) share. Asynchronous only (libuv's thread pool): nothing on the event loop waits
 * for the disk. With fsync on, segments are opened O_DSYNC, so the write that returns has
 * reached the disk (fdatasync after the write where O_DSYNC does not exist); with fsync off
 * nothing here syncs anything.
 */
import fs from 'node:fs';
import type { PbftError } from '../errors.js';

export type AppendCallback = (err: PbftError | null) => void;

/** The owner's error for a failed step: what it was doing ("write", "sync", "create a segment of"), on which file. */
export type AppendError = (what: string, file: string, e: unknown) => PbftError;

const O_DSYNC: number | undefined = (fs.constants as Record<string, number | undefined>).O_DSYNC;

/** open(2) flags of a segment written at its end: O_DSYNC with fsync on, where it exists. */
export function appendFlags(doFsync: boolean): number {
  const c = fs.constants;
  return c.O_WRONLY | c.O_APPEND | c.O_CREAT | (doFsync && O_DSYNC !== undefined ? O_DSYNC : 0);
}

/** Write the whole buffer at the end of fd (O_APPEND), a partial write continued, then fdatasync where O_DSYNC is missing. */
export function writeAll(fd: number, buf: Buffer, file: string, doFsync: boolean, error: AppendError, cb: AppendCallback): void {
  let off = 0;
  const step = () =>
    fs.write(fd, buf, off, buf.length - off, null, (err, n) => {
      if (err) return cb(error('write', file, err));
      off += n;
      if (off < buf.length) return step();
      if (!doFsync || O_DSYNC !== undefined) return cb(null);
      fs.fdatasync(fd, (e) => cb(e ? error('sync', file, e) : null));
    });
  step();
}

/**
 * Create a new segment file (it must not exist) and write `buf` as its first frame; cb(null, fd)
 * with the file open for appending, or cb(error, -1) with its fd closed. Its directory is not
 * synced: the owner decides what a failed directory sync means.
 */
export function createSegment(file: string, buf: Buffer, doFsync: boolean, error: AppendError, cb: (err: PbftError | null, fd: number) => void): void {
  fs.open(file, appendFlags(doFsync) | fs.constants.O_EXCL, 0o600, (err, fd) => {
    if (err) return cb(error('create a segment of', file, err), -1);
    writeAll(fd, buf, file, doFsync, error, (werr) => {
      if (werr) {
        fs.close(fd, () => undefined);
        return cb(werr, -1);
      }
      cb(null, fd);
    });
  });
}

/** fsync a directory off the event loop (platforms that cannot are not an error). */
export function fsyncDirAsync(dir: string, cb: (err: NodeJS.ErrnoException | null) => void): void {
  fs.open(dir, 'r', (err, fd) => {
    if (err) return cb(ignorableDirSyncError(err) ? null : err);
    fs.fsync(fd, (e) => fs.close(fd, () => cb(e && !ignorableDirSyncError(e) ? e : null)));
  });
}

function ignorableDirSyncError(e: NodeJS.ErrnoException): boolean {
  return e.code === 'EISDIR' || e.code === 'EINVAL' || e.code === 'EPERM' || e.code === 'EACCES';
}
