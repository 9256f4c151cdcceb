-- Invoice numbers (issue 13): assigned when an invoice is issued, from a gap-free counter per
-- series. A SEQUENCE is not gap-free (a rolled-back nextval is lost), so the counter is a row
-- updated in the issuing transaction: a failed or cancelled issue rolls its numbers back with it,
-- and the row lock makes concurrent issuers take turns.

CREATE TABLE invoice_number_series (
    series      text PRIMARY KEY CHECK (series ~ '^[A-Z0-9][A-Z0-9-]{0,29}$'),
    last_number bigint NOT NULL DEFAULT 0 CHECK (last_number >= 0)
);

ALTER TABLE invoice
    ADD COLUMN number_series text REFERENCES invoice_number_series (series),
    ADD COLUMN number_in_series bigint CHECK (number_in_series >= 1),
    -- The printed number, e.g. EF-2026-000123 (series + number, zero-padded to 6 digits).
    ADD COLUMN invoice_number text UNIQUE,
    ADD CONSTRAINT invoice_number_parts_check
        CHECK ((number_series IS NULL) = (number_in_series IS NULL)
               AND (number_series IS NULL) = (invoice_number IS NULL)),
    -- A Draft has no number; a number is never taken back.
    ADD CONSTRAINT invoice_number_not_draft_check
        CHECK (invoice_number IS NULL OR status <> 'Draft');
CREATE UNIQUE INDEX invoice_number_in_series_idx ON invoice (number_series, number_in_series);

-- The issued-invoice guard of 0004, now also keeping the number.
CREATE OR REPLACE FUNCTION invoice_keep_issued() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.status <> 'Draft' THEN
            RAISE EXCEPTION 'invoice % is %, it cannot be deleted', OLD.id, OLD.status;
        END IF;
        RETURN OLD;
    END IF;
    IF OLD.status <> 'Draft' AND (
        (NEW.customer_id, NEW.billing_period_id, NEW.type, NEW.issued_at, NEW.due_date,
         NEW.total_ex_vat, NEW.vat_amount, NEW.total_incl_vat, NEW.settlement_run_id,
         NEW.corrects_invoice_id, NEW.payment_term_days, NEW.number_series,
         NEW.number_in_series, NEW.invoice_number)
        IS DISTINCT FROM
        (OLD.customer_id, OLD.billing_period_id, OLD.type, OLD.issued_at, OLD.due_date,
         OLD.total_ex_vat, OLD.vat_amount, OLD.total_incl_vat, OLD.settlement_run_id,
         OLD.corrects_invoice_id, OLD.payment_term_days, OLD.number_series,
         OLD.number_in_series, OLD.invoice_number)
        OR NEW.status = 'Draft'
    ) THEN
        RAISE EXCEPTION 'invoice % is %, it cannot be changed', OLD.id, OLD.status;
    END IF;
    RETURN NEW;
END $$;

GRANT SELECT, INSERT, UPDATE ON invoice_number_series TO elflow_finance;
