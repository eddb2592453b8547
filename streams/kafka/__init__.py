"""Everything that speaks Kafka for the service core: client factories, security, topic declarations,
the partitioner, and the account reference data read from its compacted topic."""
