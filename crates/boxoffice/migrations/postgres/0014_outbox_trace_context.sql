-- The W3C `traceparent` of the request (or job) that wrote the event, so consumers
-- link their work to it; NULL for events written outside a trace.
ALTER TABLE outbox ADD COLUMN trace_context TEXT;
