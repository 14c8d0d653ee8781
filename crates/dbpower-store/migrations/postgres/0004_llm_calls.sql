-- Every prompt sent to an LLM provider (or refused by its open circuit), for audit: who, which model,
-- the prompt's hash (never its text), tokens, latency and outcome.
CREATE TABLE llm_calls (
    id                 BIGSERIAL PRIMARY KEY,
    organization_id    BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    class_id           BIGINT REFERENCES query_classes(id) ON DELETE SET NULL,
    provider           TEXT NOT NULL,
    model              TEXT NOT NULL,
    prompt_sha256      TEXT NOT NULL,
    prompt_tokens      BIGINT,
    completion_tokens  BIGINT,
    latency_ms         DOUBLE PRECISION NOT NULL,
    outcome            TEXT NOT NULL,
    detail             TEXT,
    created_at         TIMESTAMPTZ NOT NULL
);
CREATE INDEX llm_calls_org_idx ON llm_calls(organization_id, id DESC);
