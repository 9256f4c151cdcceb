-- Invoicing (settlement/invoicing.py, storage/invoices.py): what each invoice line is for, the
-- payment term a Draft is issued with, and guards that keep an issued invoice unchanged.

ALTER TABLE invoice
    ADD COLUMN created_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    -- Copied from the contracts when the invoice is built; due_date = issue date + this.
    ADD COLUMN payment_term_days integer NOT NULL DEFAULT 0
        CHECK (payment_term_days BETWEEN 0 AND 365);

-- A line is identified by metering point + charge type (+ aconto kind for 'Aconto' lines): a
-- credit/debit note compares the new amounts with what was invoiced per line identity.
ALTER TABLE invoice_line
    ADD COLUMN line_no           integer,
    ADD COLUMN metering_point_id text REFERENCES metering_point (gsrn),
    ADD COLUMN aconto_kind       text CHECK (aconto_kind IN ('Paid', 'Next')),
    ADD CONSTRAINT invoice_line_aconto_is_kind_check
        CHECK ((charge_type = 'Aconto') = (aconto_kind IS NOT NULL));
CREATE UNIQUE INDEX invoice_line_no_idx ON invoice_line (invoice_id, line_no);

CREATE INDEX invoice_period_customer_idx ON invoice (billing_period_id, customer_id);
-- One original invoice per customer and billing period (later changes are notes) and at most one
-- unissued note at a time; two concurrent invoicing runs cannot both create one.
CREATE UNIQUE INDEX invoice_one_original_idx ON invoice (customer_id, billing_period_id)
    WHERE type NOT IN ('CreditNote', 'DebitNote') AND status <> 'Cancelled';
CREATE UNIQUE INDEX invoice_one_draft_note_idx ON invoice (customer_id, billing_period_id)
    WHERE type IN ('CreditNote', 'DebitNote') AND status = 'Draft';

-- An invoice that has left Draft is a legal document: only its status may move on (Issued →
-- Sent → Paid ...); its figures, lines and dates never change and it is never deleted.
CREATE FUNCTION invoice_keep_issued() RETURNS trigger LANGUAGE plpgsql AS $$
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
         NEW.corrects_invoice_id, NEW.payment_term_days)
        IS DISTINCT FROM
        (OLD.customer_id, OLD.billing_period_id, OLD.type, OLD.issued_at, OLD.due_date,
         OLD.total_ex_vat, OLD.vat_amount, OLD.total_incl_vat, OLD.settlement_run_id,
         OLD.corrects_invoice_id, OLD.payment_term_days)
        OR NEW.status = 'Draft'
    ) THEN
        RAISE EXCEPTION 'invoice % is %, it cannot be changed', OLD.id, OLD.status;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER invoice_keep_issued BEFORE UPDATE OR DELETE ON invoice
    FOR EACH ROW EXECUTE FUNCTION invoice_keep_issued();

CREATE FUNCTION invoice_line_keep_issued() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    parent uuid := CASE WHEN TG_OP = 'DELETE' THEN OLD.invoice_id ELSE NEW.invoice_id END;
    state  text;
BEGIN
    SELECT status INTO state FROM invoice WHERE id = parent;
    IF state IS DISTINCT FROM 'Draft' THEN
        RAISE EXCEPTION 'invoice % is %, its lines cannot be changed', parent, state;
    END IF;
    IF TG_OP = 'UPDATE' AND OLD.invoice_id <> NEW.invoice_id THEN
        RAISE EXCEPTION 'an invoice line cannot move to another invoice';
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END $$;
CREATE TRIGGER invoice_line_keep_issued BEFORE INSERT OR UPDATE OR DELETE ON invoice_line
    FOR EACH ROW EXECUTE FUNCTION invoice_line_keep_issued();
