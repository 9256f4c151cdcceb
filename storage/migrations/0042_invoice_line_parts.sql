-- The parts of an invoice line as the customer reads them (issue 13, settlement/invoice_document.py):
-- kWh × the published rate in force, per rate and date range; subscriptions per day × days; an
-- aconto line's amount incl. VAT. Written with the Draft (settlement/invoice_parts.py) from the
-- data the invoice was made from, so the printed document never has to back-compute a rate, and
-- frozen with the invoice when it is issued.

CREATE TABLE invoice_line_part (
    invoice_id      uuid NOT NULL REFERENCES invoice (id) ON DELETE CASCADE,
    line_no         integer NOT NULL,
    part_no         integer NOT NULL CHECK (part_no >= 1),
    kind            text NOT NULL CHECK (kind IN ('rate', 'aconto')),
    description     text NOT NULL CHECK (length(description) <= 200),
    quantity        numeric(18, 3) NOT NULL,
    quantity_unit   text NOT NULL CHECK (quantity_unit IN ('kWh', 'dage', 'stk')),
    -- The rate as the price list states it, in rate_unit; NULL for aconto parts.
    rate            numeric(20, 8),
    rate_unit       text CHECK (rate_unit IN ('øre/kWh', 'kr/kWh', 'kr/dag')),
    first_day       date,
    last_day        date,
    -- Excl. VAT, in øre; the parts of a line add up to the line's amount.
    amount          numeric(14, 2) NOT NULL,
    amount_incl_vat numeric(14, 2),
    -- false: no single published rate exists (e.g. the consumption-weighted mean spot price).
    published       boolean NOT NULL DEFAULT true,
    -- false: the part prices kWh another part already counts (a spot product's spot share
    -- beside its margin); the counted parts' quantities add up to the line's.
    counts_quantity boolean NOT NULL DEFAULT true,
    PRIMARY KEY (invoice_id, line_no, part_no),
    FOREIGN KEY (invoice_id, line_no) REFERENCES invoice_line (invoice_id, line_no)
        ON DELETE CASCADE,
    CHECK ((rate IS NULL) = (rate_unit IS NULL)),
    CHECK (first_day IS NULL OR last_day IS NULL OR last_day >= first_day)
);

-- Like the lines: only a Draft's parts may be written or removed (0004's guard of the lines).
CREATE TRIGGER invoice_line_part_keep_issued BEFORE INSERT OR UPDATE OR DELETE ON invoice_line_part
    FOR EACH ROW EXECUTE FUNCTION invoice_line_keep_issued();

GRANT SELECT, INSERT, DELETE ON invoice_line_part TO elflow_finance;
