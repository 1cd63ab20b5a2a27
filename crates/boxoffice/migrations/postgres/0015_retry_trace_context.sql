-- Retries and dead letters keep the `traceparent` their event was written under, so a
-- retry or a replay links to the request that caused it, as the first delivery does.
ALTER TABLE outbox_retries ADD COLUMN trace_context TEXT;
ALTER TABLE dead_letters ADD COLUMN trace_context TEXT;
