// The OpenTelemetry messaging attributes the relay's and the consumers' spans carry (semantic conventions 1.45,
// still "development" status), copied here as OpenTelemetry advises for incubating names: the package's
// `incubating` entry point can change in a minor release, and loading it keeps every experimental attribute of
// every domain in memory (about 1.4 MB of source, and an object per name) for the dozen used here.
export const ATTR_MESSAGING_BATCH_MESSAGE_COUNT = "messaging.batch.message_count";
export const ATTR_MESSAGING_CONSUMER_GROUP_NAME = "messaging.consumer.group.name";
export const ATTR_MESSAGING_DESTINATION_NAME = "messaging.destination.name";
export const ATTR_MESSAGING_DESTINATION_PARTITION_ID = "messaging.destination.partition.id";
export const ATTR_MESSAGING_KAFKA_OFFSET = "messaging.kafka.offset";
export const ATTR_MESSAGING_MESSAGE_ID = "messaging.message.id";
export const ATTR_MESSAGING_OPERATION_NAME = "messaging.operation.name";
export const ATTR_MESSAGING_OPERATION_TYPE = "messaging.operation.type";
export const ATTR_MESSAGING_SYSTEM = "messaging.system";
export const MESSAGING_OPERATION_TYPE_VALUE_PROCESS = "process";
export const MESSAGING_OPERATION_TYPE_VALUE_SEND = "send";
export const MESSAGING_SYSTEM_VALUE_KAFKA = "kafka";
