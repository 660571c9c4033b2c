// The Debezium connector that streams the outbox, as Kafka Connect configuration: the Postgres connector
// (pgoutput, its own slot, a publication on the outbox, a heartbeat) and the Outbox Event Router, set up so
// that every record is the one the polling relay would send (relay/publishBatch.ts).

import { DEFAULT_KAFKA_COMPRESSION, type Env } from "../config/env.ts";
import { TOPIC_MAX_MESSAGE_BYTES } from "../events/record.ts";

/** Where the connector reads from and what it is called; everything is named after the database. */
export interface DebeziumTarget {
  /** The Connect connector's name; one per database, so tests never touch `npm start`'s connector. */
  connectorName: string;
  /** Replication slots belong to the whole server, so the database is part of the name. */
  slotName: string;
  /** Publications belong to one database. */
  publicationName: string;
  /** Debezium's logical server name: its JMX metrics and the (dropped) raw topic names carry it. */
  topicPrefix: string;
  heartbeatTable: string;
  database: {
    host: string;
    port: number;
    user: string;
    /** Never put into the connector's config: it reaches the worker through a secrets file (connector.ts). */
    password: string;
    name: string;
    /** The URL's sslmode, sslrootcert, sslcert and sslkey (or PGSSLMODE, PGSSLROOTCERT, ...), as pgjdbc takes them. */
    ssl: PostgresTls;
  };
}

/** Postgres TLS as Debezium's `database.ssl*` options take it; paths are as the Connect worker sees them. */
export interface PostgresTls {
  /** As given; connectorConfig refuses a mode pgjdbc does not know (the target alone serves polling mode too). */
  mode?: string;
  rootCert?: string;
  cert?: string;
  key?: string;
}

/** The modes pgjdbc (inside Debezium) knows; node-postgres' `no-verify` is not one, and is refused. */
const PG_SSL_MODES = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] as const;

export const PUBLICATION_NAME = "debezium_outbox";
/** Created by a migration (db/schema.ts); the connector upserts its one row every heartbeat. */
export const HEARTBEAT_TABLE = "debezium_heartbeat";

/**
 * The names for the database at `databaseUrl`. `connectDatabaseUrl` is the same database as the Connect
 * worker reaches it, when that differs (a worker in a container reaches `postgres:5432`, not 127.0.0.1:5433).
 */
export function debeziumTarget(
  databaseUrl: string,
  connectDatabaseUrl: string = databaseUrl,
  env: NodeJS.ProcessEnv = process.env,
): DebeziumTarget {
  const name = databaseName(databaseUrl);
  const connectName = databaseName(connectDatabaseUrl);
  if (connectName !== name) {
    throw new Error(
      `The database Kafka Connect reaches (${connectName}) is not the one this process uses (${name}): ` +
        "point both URLs at the same database",
    );
  }
  // Slot names allow only [a-z0-9_]; database names allow much more.
  const suffix = name.toLowerCase().replace(/[^a-z0-9_]/g, "_");
  const url = new URL(connectDatabaseUrl);
  return {
    connectorName: `outbox-debezium-${name}`,
    slotName: `debezium_outbox_${suffix}`.slice(0, 63),
    publicationName: PUBLICATION_NAME,
    topicPrefix: `outbox_${suffix}`,
    heartbeatTable: HEARTBEAT_TABLE,
    database: {
      host: url.hostname,
      port: Number(url.port || 5432),
      user: decodeURIComponent(url.username),
      password: decodeURIComponent(url.password),
      name,
      ssl: postgresTls(url, env),
    },
  };
}

/** libpq's rule: a URL parameter wins over its PG* variable. */
function postgresTls(url: URL, env: NodeJS.ProcessEnv): PostgresTls {
  const setting = (parameter: string, variable: string) =>
    url.searchParams.get(parameter) || env[variable] || undefined;
  const mode = setting("sslmode", "PGSSLMODE");
  const tls: PostgresTls = {};
  if (mode) tls.mode = mode;
  const rootCert = setting("sslrootcert", "PGSSLROOTCERT");
  const cert = setting("sslcert", "PGSSLCERT");
  const key = setting("sslkey", "PGSSLKEY");
  if (rootCert) tls.rootCert = rootCert;
  if (cert) tls.cert = cert;
  if (key) tls.key = key;
  return tls;
}

function databaseName(databaseUrl: string): string {
  let url: URL;
  try {
    url = new URL(databaseUrl);
  } catch {
    throw new Error("DATABASE_URL is not a URL: expected postgres://user:password@host:port/database");
  }
  const name = decodeURIComponent(url.pathname.replace(/^\//, ""));
  if (!name)
    throw new Error("DATABASE_URL names no database: expected postgres://user:password@host:port/database");
  return name;
}

export interface ConnectorOptions {
  /** How often Debezium runs the heartbeat query; bounds how long the slot's WAL may pile up. */
  heartbeatIntervalMs?: number;
  /** How Connect's producer compresses record batches (KAFKA_COMPRESSION): the polling relay's setting. */
  compression?: Env["KAFKA_COMPRESSION"];
}

export const DEFAULT_HEARTBEAT_INTERVAL_MS = 10_000;

/** What every connector's heartbeat topic starts with (Debezium's default heartbeat.topics.prefix, then "."). */
export const HEARTBEAT_TOPICS_PREFIX = "__debezium-heartbeat.";

/** Debezium's default heartbeat topic for this connector (heartbeat.topics.prefix + "." + topic.prefix). */
export function heartbeatTopic(target: DebeziumTarget): string {
  return `${HEARTBEAT_TOPICS_PREFIX}${target.topicPrefix}`;
}

/** Where the payload waits while the trace header steps below use the value; never leaves the worker. */
const STASHED_PAYLOAD_HEADER = "__outbox_payload";
/** Where the tracestate waits while the traceparent steps use the value; never leaves the worker. */
const STASHED_TRACESTATE_HEADER = "__outbox_tracestate";

/** The connector's secrets, by the key its config's placeholders name in the secrets file. */
export function connectorSecrets(target: DebeziumTarget): Record<string, string> {
  return { "database.password": target.database.password };
}

/**
 * The full connector configuration, as PUT /connectors/<name>/config takes it (every value a string). Secrets
 * are `${file:<secretsFile>:<key>}` placeholders, resolved by the worker's file config provider when the task
 * starts: GET /connectors/<name>/config and the connect-configs topic never hold them.
 */
export function connectorConfig(
  target: DebeziumTarget,
  secretsFile: string,
  options: ConnectorOptions = {},
): Record<string, string> {
  const secret = (key: keyof ReturnType<typeof connectorSecrets>) => `\${file:${secretsFile}:${key}}`;
  const { ssl } = target.database;
  if (ssl.mode !== undefined && !PG_SSL_MODES.some((known) => known === ssl.mode)) {
    throw new Error(
      `DATABASE_URL's sslmode (or PGSSLMODE) is ${JSON.stringify(ssl.mode)}: Debezium takes ${PG_SSL_MODES.join(", ")}`,
    );
  }
  const rawTopic = (table: string) => `${target.topicPrefix}.public.${table}`.replaceAll(".", "\\.");
  return {
    "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
    // One task: a logical replication slot has exactly one reader, and the WAL gives one order.
    "tasks.max": "1",

    "database.hostname": target.database.host,
    "database.port": String(target.database.port),
    "database.user": target.database.user,
    "database.password": secret("database.password"),
    "database.dbname": target.database.name,
    ...(ssl.mode && { "database.sslmode": ssl.mode }),
    ...(ssl.rootCert && { "database.sslrootcert": ssl.rootCert }),
    ...(ssl.cert && { "database.sslcert": ssl.cert }),
    ...(ssl.key && { "database.sslkey": ssl.key }),
    "topic.prefix": target.topicPrefix,

    "plugin.name": "pgoutput",
    "slot.name": target.slotName,
    // The slot is created by the handover (handover/switch.ts), at the exact position where the polling relay
    // stopped; a connector that created its own would start wherever the WAL happened to be.
    "slot.drop.on.stop": "false",
    // Ours too, holding the outbox and the heartbeat table only (debezium/sql/preparePostgres.ts).
    "publication.name": target.publicationName,
    "publication.autocreate.mode": "disabled",
    "table.include.list": `public.outbox,public.${target.heartbeatTable}`,
    // Only the columns the router reads (and the keys): less to decode and convert per event, no warning about
    // xid8 (a type Debezium does not know), and columns the outbox gains later (the hash chain) stay out.
    "column.include.list": [
      "public\\.outbox\\.(position|event_id|event_type|topic|message_key|payload|correlation_id|traceparent|tracestate)",
      `public\\.${target.heartbeatTable}\\.id`,
    ].join(","),
    // The outbox is history: nothing is copied at start, only what commits after the slot's position (so the
    // snapshot's own settings, fetch size and threads, have nothing to tune).
    "snapshot.mode": "no_data",
    // The slot is the handover position. Offsets left in Connect by an earlier Debezium period are older than
    // a slot created since, and must not be used.
    "offset.mismatch.strategy": "trust_slot",

    // While the outbox is quiet the slot would pin WAL that other tables write. Debezium runs this query every
    // interval; its change reaches the connector through the publication, moves the offset, and the slot's
    // confirmed position follows. The change record itself is dropped below. A beat costs one small transaction
    // (10 s by default): nothing against the events' own, and it plays no part in their latency.
    "heartbeat.interval.ms": String(options.heartbeatIntervalMs ?? DEFAULT_HEARTBEAT_INTERVAL_MS),
    "heartbeat.action.query": `INSERT INTO public.${target.heartbeatTable} (id, beat_at) VALUES (1, now()) ON CONFLICT (id) DO UPDATE SET beat_at = EXCLUDED.beat_at`,
    // Logical decoding messages (pg_logical_emit_message) are nobody's events here.
    "message.prefix.exclude.list": ".*",
    // Debezium's own context headers (__debezium.context.*) are not part of the record contract.
    "extended.headers.enabled": "false",
    "tombstones.on.delete": "false",

    // KIP-618: each batch of records and its source offset commit in one Kafka transaction.
    "exactly.once.support": "required",
    // One transaction per poll (Connect's default, said here because latency rests on it): the records of a poll
    // become readable to read_committed consumers when it commits. `interval` would batch several polls into
    // one transaction, fewer commits for a wait of up to the interval on every event.
    "transaction.boundary": "poll",

    // Tuned with `npm run bench:relay` (README, "Debezium tuning"): latency at a steady rate, catch-up speed.
    // Debezium sleeps this long when the replication stream has nothing pending, and poll() then waits as long
    // again for the batch to fill: up to twice it before an event even reaches Connect (default 500 ms). At 5 ms
    // an idle connector wakes 200 times a second (a few microseconds each); an empty poll opens no transaction.
    "poll.interval.ms": "5",
    // Under a backlog a poll returns as soon as this many records wait: one transaction commit (several broker
    // round trips and a marker per partition) per 8,192 events instead of per 2,048 (the default).
    "max.batch.size": "8192",
    // Debezium requires more than max.batch.size; four batches let the WAL reader go on while Connect commits.
    // Events of ~1 KB: a full queue is tens of MB in the worker's 512 MB heap (stack/connect.ts).
    "max.queue.size": "32768",
    // Debezium's batches above count records; Connect's producer bounds the bytes. It checks every record against
    // max.request.size, fills one batch per partition up to batch.size (a larger record goes alone), and sends
    // at most max.request.size per request: set to the topics' max.message.bytes (events/record.ts), no
    // partition's batch can be refused as too large, and the write path keeps every record well under it.
    // A record refused anyway fails the task (errors.tolerance stays none): relay:status and /health/ready
    // report it, and nothing after it is skipped.
    "producer.override.max.request.size": String(TOPIC_MAX_MESSAGE_BYTES),
    // A full poll of patient events puts about 1 MB on each of their topic's six partitions: 256 KiB batches
    // (default 16 KiB) make a few record batches per partition instead of dozens, each compressed as a whole,
    // and stay well under max.request.size.
    "producer.override.batch.size": "262144",
    // The transaction's commit flushes the producer at once, so lingering never delays an event; Kafka 4's
    // default (5 ms) only lets the sender thread wait for a poll's records to fill batches before that flush.
    "producer.override.linger.ms": "5",
    // Polls commit back to back, and a transaction's first send often arrives while the last commit's markers
    // are still being written (CONCURRENT_TRANSACTIONS, a millisecond or two); the producer's default wait before
    // asking again is 100 ms. The broker retries it too (add.partitions.to.txn.retry.backoff.ms, stack/kafka.ts).
    "producer.override.retry.backoff.ms": "5",
    "producer.override.compression.type": options.compression ?? DEFAULT_KAFKA_COMPRESSION,

    // Keys and values leave as text: the key is message_key, the value the envelope JSON exactly as written.
    // The outbox's payload column is `json` (not jsonb), which keeps the writer's bytes; Debezium hands it over
    // as a string (semantic type io.debezium.data.Json) and StringConverter writes that string unchanged.
    "key.converter": "org.apache.kafka.connect.storage.StringConverter",
    "value.converter": "org.apache.kafka.connect.storage.StringConverter",
    "header.converter": "org.apache.kafka.connect.storage.StringConverter",

    transforms: [
      "dropHeartbeats",
      "outbox",
      "dropRouterId",
      "stashPayload",
      "traceparentAsValue",
      "dropNullTraceparent",
      "wrapTraceparent",
      "restoreTracestate",
      "tracestateAsValue",
      "dropNullTracestate",
      "wrapTracestate",
      "restorePayload",
      "payloadAsValue",
    ].join(","),
    predicates: "isHeartbeatChange,isHeartbeat,isTombstone",

    // The heartbeat-table change only moves Debezium's position; the record it makes is no event.
    "transforms.dropHeartbeats.type": "org.apache.kafka.connect.transforms.Filter",
    "transforms.dropHeartbeats.predicate": "isHeartbeatChange",
    "predicates.isHeartbeatChange.type": "org.apache.kafka.connect.transforms.predicates.TopicNameMatches",
    "predicates.isHeartbeatChange.pattern": rawTopic(target.heartbeatTable),
    // Debezium's heartbeat record, which carries that position, must really be written (to its own small
    // compacted topic, debezium/connector.ts creates it): with exactly-once delivery, Connect commits the
    // offsets of a poll in which every record was dropped neither to Kafka nor back to the connector, so the
    // slot would never move while the outbox is quiet. Every step below leaves it alone.
    "predicates.isHeartbeat.type": "org.apache.kafka.connect.transforms.predicates.TopicNameMatches",
    "predicates.isHeartbeat.pattern": heartbeatTopic(target).replaceAll(".", "\\."),

    "transforms.outbox.predicate": "isHeartbeat",
    "transforms.outbox.negate": "true",
    "transforms.outbox.type": "io.debezium.transforms.outbox.EventRouter",
    "transforms.outbox.table.field.event.id": "event_id",
    "transforms.outbox.table.field.event.key": "message_key",
    "transforms.outbox.table.field.event.type": "event_type",
    "transforms.outbox.table.field.event.payload": "payload",
    // The topic column names the Kafka topic itself (from the event catalog), unchanged.
    "transforms.outbox.route.by.field": "topic",
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the router's own placeholder, not JavaScript's.
    "transforms.outbox.route.topic.replacement": "${routedByValue}",
    // Re-serializing would change the bytes (key order, spacing, number formats).
    "transforms.outbox.table.expand.json.payload": "false",
    "transforms.outbox.route.tombstone.on.empty.payload": "false",
    // The headers of the contract. traceparent and tracestate also go into the value (the router then emits a
    // struct {payload, traceparent, tracestate}) for the steps that drop each header when it is null;
    // payloadAsValue unwraps it.
    "transforms.outbox.table.fields.additional.placement": [
      "event_id:header:eventId",
      "event_type:header:eventType",
      "correlation_id:header:correlationId",
      "traceparent:header:traceparent",
      "traceparent:envelope:traceparent",
      "tracestate:header:tracestate",
      "tracestate:envelope:tracestate",
    ].join(","),
    // The outbox is append-only (triggers refuse UPDATE and DELETE); anything else is a fault worth stopping for.
    "transforms.outbox.table.op.invalid.behavior": "error",
    // The router always adds the event id as a header named `id`; the contract names it eventId, once.
    "transforms.dropRouterId.predicate": "isHeartbeat",
    "transforms.dropRouterId.negate": "true",
    "transforms.dropRouterId.type": "org.apache.kafka.connect.transforms.DropHeaders",
    "transforms.dropRouterId.headers": "id",

    // The router writes a header for every configured column, null or not; the polling relay leaves traceparent
    // and tracestate out when there is none (kafkajs cannot even write a null header). Kafka's only predicate
    // that looks at a record's content is RecordIsTombstone, so the steps below make the value *be* the
    // traceparent for a moment, then the tracestate: the payload (and the tracestate) wait in headers, a null
    // becomes a tombstone whose header is dropped, and the payload comes back as the value. Each step is a
    // stock transform (Kafka's or Debezium's).
    "transforms.stashPayload.predicate": "isHeartbeat",
    "transforms.stashPayload.negate": "true",
    "transforms.stashPayload.type": "org.apache.kafka.connect.transforms.HeaderFrom$Value",
    "transforms.stashPayload.fields": "payload,tracestate",
    "transforms.stashPayload.headers": `${STASHED_PAYLOAD_HEADER},${STASHED_TRACESTATE_HEADER}`,
    "transforms.stashPayload.operation": "move",
    "transforms.traceparentAsValue.predicate": "isHeartbeat",
    "transforms.traceparentAsValue.negate": "true",
    "transforms.traceparentAsValue.type": "org.apache.kafka.connect.transforms.ExtractField$Value",
    "transforms.traceparentAsValue.field": "traceparent",
    "transforms.dropNullTraceparent.type": "org.apache.kafka.connect.transforms.DropHeaders",
    "transforms.dropNullTraceparent.headers": "traceparent",
    "transforms.dropNullTraceparent.predicate": "isTombstone",
    "predicates.isTombstone.type": "org.apache.kafka.connect.transforms.predicates.RecordIsTombstone",
    "transforms.wrapTraceparent.predicate": "isHeartbeat",
    "transforms.wrapTraceparent.negate": "true",
    "transforms.wrapTraceparent.type": "org.apache.kafka.connect.transforms.HoistField$Value",
    "transforms.wrapTraceparent.field": "traceparent",
    "transforms.restoreTracestate.predicate": "isHeartbeat",
    "transforms.restoreTracestate.negate": "true",
    "transforms.restoreTracestate.type": "io.debezium.transforms.HeaderToValue",
    "transforms.restoreTracestate.headers": STASHED_TRACESTATE_HEADER,
    "transforms.restoreTracestate.fields": "tracestate",
    "transforms.restoreTracestate.operation": "move",
    "transforms.tracestateAsValue.predicate": "isHeartbeat",
    "transforms.tracestateAsValue.negate": "true",
    "transforms.tracestateAsValue.type": "org.apache.kafka.connect.transforms.ExtractField$Value",
    "transforms.tracestateAsValue.field": "tracestate",
    "transforms.dropNullTracestate.type": "org.apache.kafka.connect.transforms.DropHeaders",
    "transforms.dropNullTracestate.headers": "tracestate",
    "transforms.dropNullTracestate.predicate": "isTombstone",
    "transforms.wrapTracestate.predicate": "isHeartbeat",
    "transforms.wrapTracestate.negate": "true",
    "transforms.wrapTracestate.type": "org.apache.kafka.connect.transforms.HoistField$Value",
    "transforms.wrapTracestate.field": "tracestate",
    "transforms.restorePayload.predicate": "isHeartbeat",
    "transforms.restorePayload.negate": "true",
    "transforms.restorePayload.type": "io.debezium.transforms.HeaderToValue",
    "transforms.restorePayload.headers": STASHED_PAYLOAD_HEADER,
    "transforms.restorePayload.fields": "payload",
    "transforms.restorePayload.operation": "move",
    "transforms.payloadAsValue.predicate": "isHeartbeat",
    "transforms.payloadAsValue.negate": "true",
    "transforms.payloadAsValue.type": "org.apache.kafka.connect.transforms.ExtractField$Value",
    "transforms.payloadAsValue.field": "payload",
  };
}
