/**
 * Where an audit event is stored: the Durable Object `<YYYY-MM-DD>:<shard>` of the event's UTC day,
 * one of {@link AUDIT_SHARDS_PER_DAY}, picked at random per request.
 *
 * Why by day: the admin export reads by time range, and retention deletes whole days (an object's
 * alarm deletes all its storage: no row-by-row sweep, no table that grows for 90 days). Why shards
 * within a day: one Durable Object runs on one thread, about a thousand small requests a second
 * (Cloudflare's documented soft limit for one object), and every event of a day would otherwise
 * queue at one object somewhere in the world. Measured here (`wrangler dev`, one shard, one
 * request's batch of one event per RPC: test/worker/audit.test.ts "one shard sustains"): see the
 * README "Audit trail" for the figure. Four shards give four times that, while an export walks
 * four objects per day; a user or client filter is an index lookup in each.
 *
 * The count is part of the storage layout: the export walks exactly these shards. Raising it later
 * is safe only if the export also reads the old count's names (they are a prefix of the new set).
 */
import { DAY_MS, utcDay } from './events';
import type { AuditLog } from './store';

export const AUDIT_SHARDS_PER_DAY = 4;

export function auditShard(env: Env, day: string, shard: number): DurableObjectStub<AuditLog> {
  const namespace = env.AUDIT_LOG;
  return namespace.get(namespace.idFromName(`${day}:${shard}`));
}

/** Start of a UTC day, ms since the epoch. */
export function dayStart(day: string): number {
  return Date.parse(`${day}T00:00:00.000Z`);
}

/** When a day's shards delete themselves: the end of the day plus the retention. */
export function dayExpiresAt(day: string, retentionDays: number): number {
  return dayStart(day) + (retentionDays + 1) * DAY_MS;
}

export function nextDay(day: string): string {
  return utcDay(dayStart(day) + DAY_MS);
}

/**
 * Days past the retention that the hourly cron purges, newest first. Each shard deletes itself by
 * alarm at its expiry; the cron catches the days a shortened retention left behind (their alarms
 * were set under the longer one), a week of them per run: 7 days × 4 shards = 28 Durable Object
 * calls, under the 50 subrequests of one invocation on Workers Free.
 */
export const AUDIT_SWEEP_DAYS = 7;

/** Purges the {@link AUDIT_SWEEP_DAYS} days before the oldest day retention keeps. */
export async function sweepExpiredAudit(env: Env, retentionDays: number, now: number): Promise<number> {
  let purged = 0;
  for (let back = 1; back <= AUDIT_SWEEP_DAYS; back++) {
    const day = utcDay(now - (retentionDays + back) * DAY_MS);
    await Promise.all(Array.from({ length: AUDIT_SHARDS_PER_DAY }, (_, shard) => auditShard(env, day, shard).purge()));
    purged++;
  }
  return purged;
}
