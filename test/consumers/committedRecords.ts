// Commits a test record's event to the outbox exactly as the record carries it, so that the record is what a relay
// publishes: a consumer takes only a record whose value is the payload of the outbox row with its event id
// (consumers/runtime/inbox.ts). The rows are written as the write path writes them (db/outbox/appendEvents.ts):
// numbered from their aggregate's head, chained to its last hash and inserted by the same statement, so the
// shared test database's history stays one that audit:verify accepts.

import { decodeMessage } from "../../consumers/runtime/decodeRecord.ts";
import { connectionOf, type Database, writeTransaction } from "../../db/client.ts";
import { bumpAggregateVersions } from "../../db/outbox/bumpAggregateVersions.ts";
import { eventHash, type HashedEventFields } from "../../db/outbox/eventHash.ts";
import { insertOutboxRows, type NewAggregateHead, type OutboxRow } from "../../db/outbox/insertOutboxRows.ts";
import { PatientKeyring } from "../../db/patientKeys.ts";
import { eventDefinition, readEnvelope, recordKey } from "../../events/index.ts";
import type { IHeaders } from "../../kafka/client.ts";
import { keyOwner } from "../../phi/personalFields.ts";
import { testMasterKeys } from "../fixtures.ts";

/** A record as a test built it (records.ts's TestRecord): its value is the text to commit. */
interface RecordToCommit {
  topic: string;
  message: { key: string | null; value: string; headers?: IHeaders };
}

/**
 * Commits the events of the records a consumer would read as events (decodeMessage: valid, on their topic, under
 * their key and headers; or about an erased patient), the first record of each event id only, and none whose id
 * the outbox holds already: a record sent again stays a duplicate, and one carrying a committed event's id with
 * another value stays what it is, a copy no transaction committed. With `refusedToo`, also those whose value is an
 * envelope a consumer refuses for its data, its sealing, its key or its headers: a committed event a writer of
 * another schema version wrote, or whose record a producer broke. Returns the ids committed now.
 */
export async function commitToOutbox(
  db: Database,
  records: readonly RecordToCommit[],
  { refusedToo = false }: { refusedToo?: boolean } = {},
): Promise<string[]> {
  const keys = new PatientKeyring(db, testMasterKeys);
  const events: Array<{
    fields: HashedEventFields;
    keyedBy: "aggregate" | "eventId";
    patientId: string | null;
  }> = [];
  const createdAt = new Date();
  for (const record of records) {
    const { key, value, headers } = record.message;
    const message = { key: key === null ? null : Buffer.from(key), value: Buffer.from(value), headers };
    const decoded = await decodeMessage(record.topic, message, keys, "without-personal-metadata");
    if (decoded.kind === "poison" && !(refusedToo && isEnvelope(value))) continue;
    // An event about an erased patient, or a refused one, is committed as it is (sealed under the key erasure
    // destroyed, or as its value holds it).
    const envelope = decoded.kind === "event" ? decoded.envelope : readEnvelope(JSON.parse(value));
    if (events.some(({ fields }) => fields.eventId === envelope.eventId)) continue;
    const definition = eventDefinition(envelope.eventType);
    const data = envelope.data as never;
    events.push({
      keyedBy: definition.keyedBy,
      patientId: keyOwner(envelope.data),
      fields: {
        eventId: envelope.eventId,
        eventType: envelope.eventType,
        aggregateType: definition.aggregateType,
        aggregateId: definition.aggregateId(data),
        aggregateVersion: null,
        topic: definition.topic,
        messageKey: recordKey(envelope.eventType, envelope.eventId, data),
        payload: value,
        correlationId: envelope.metadata.correlationId,
        traceparent: null,
        tracestate: null,
        createdAt,
      },
    });
  }
  if (events.length === 0) return [];
  return writeTransaction(db, async (tx) => {
    const client = connectionOf(tx);
    const { rows: held } = await client.query<{ eventId: string }>(
      `SELECT event_id::text AS "eventId" FROM outbox WHERE event_id = ANY($1::uuid[])`,
      [events.map(({ fields }) => fields.eventId)],
    );
    const committed = new Set(held.map(({ eventId }) => eventId));
    const toCommit = events.filter(({ fields }) => !committed.has(fields.eventId));
    if (toCommit.length === 0) return [];
    const rows: OutboxRow[] = toCommit.map(({ fields, patientId }) => ({
      fields,
      patientId,
      previousHash: null,
      hash: eventHash(null, fields),
    }));
    // Each aggregate's events numbered and chained from its head, its row bumped in a fixed order.
    const byAggregate = new Map<string, OutboxRow[]>();
    for (const [index, row] of rows.entries()) {
      if ((toCommit[index] as (typeof toCommit)[number]).keyedBy !== "aggregate") continue;
      const id = JSON.stringify([row.fields.aggregateType, row.fields.aggregateId]);
      byAggregate.set(id, [...(byAggregate.get(id) ?? []), row]);
    }
    const groups = [...byAggregate.keys()].sort().map((id) => byAggregate.get(id) as OutboxRow[]);
    const bumped = await bumpAggregateVersions(
      client,
      groups.map((group) => {
        const { aggregateType, aggregateId } = (group[0] as OutboxRow).fields;
        return { aggregateType, aggregateId, events: group.length };
      }),
    );
    const heads: NewAggregateHead[] = groups.map((group) => {
      const { aggregateType, aggregateId } = (group[0] as OutboxRow).fields;
      const head = bumped.find(
        (row) => row.aggregateType === aggregateType && row.aggregateId === aggregateId,
      );
      if (head === undefined) throw new Error(`no version row came back for ${aggregateType} ${aggregateId}`);
      let previous: Buffer | null = head.lastHash.length > 0 ? head.lastHash : null;
      for (const [index, row] of group.entries()) {
        row.fields.aggregateVersion = head.version - group.length + index + 1;
        row.previousHash = previous;
        row.hash = eventHash(previous, row.fields);
        previous = row.hash;
      }
      return {
        aggregateType,
        aggregateId,
        expectedVersion: head.version,
        version: head.version,
        hash: previous as Buffer,
      };
    });
    await insertOutboxRows(client, rows, heads, createdAt);
    return rows.map(({ fields }) => fields.eventId);
  });
}

/** Whether `value` is JSON of an envelope of a cataloged event type, whatever its data, sealing, key or headers. */
function isEnvelope(value: string): boolean {
  try {
    readEnvelope(JSON.parse(value));
    return true;
  } catch {
    return false;
  }
}
