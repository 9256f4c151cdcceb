-- The ids a source system gave the rows of a portfolio (issue 13, `elflow load portfolio`).
-- Products, customers, supply periods, contracts and aconto payments keep UUID ids inside; a
-- portfolio may name them with any stable text (`C-10017`), which maps to a UUID the same way on
-- every load (schemas.reference.portfolio.source_uuid). This table keeps the text, so a report
-- or a clerk can find a row by the id the source system knows it by. Grid areas (code) and
-- metering points (GSRN) keep their own keys and are not listed.
CREATE TABLE source_id (
    kind      text NOT NULL CHECK (kind IN ('product', 'customer', 'supply_period', 'contract',
                                            'aconto_payment')),
    source_id text NOT NULL CHECK (length(source_id) BETWEEN 1 AND 100),
    id        uuid NOT NULL,
    loaded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, source_id)
);
CREATE INDEX source_id_id_idx ON source_id (kind, id);

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'elflow_loader') THEN
        GRANT SELECT, INSERT ON source_id TO elflow_loader;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'elflow_finance') THEN
        GRANT SELECT ON source_id TO elflow_finance;
    END IF;
END
$$;
