-- RSM-028 customer characteristics (issue 10): DataHub's customer data of a metering point,
-- applied by the master-data flow, which runs as elflow_ingest and may not read customers
-- (personal data). It writes them through one SECURITY DEFINER function that answers only
-- 'created', 'updated', 'older' (a newer document was applied already) or 'other_cpr_cvr' (our
-- customer has another CPR/CVR: nothing changes), never a stored value.

ALTER TABLE customer
    ADD COLUMN address            text CHECK (length(address) <= 1000),
    -- createdDateTime of the RSM-028 document last applied (NULL: never; loaded from a file).
    ADD COLUMN characteristics_at timestamptz;

CREATE FUNCTION lifecycle_customer_characteristics(
    p_id uuid, p_cpr_cvr text, p_contact_type text, p_name text, p_email text, p_phone text,
    p_address text, p_at timestamptz)
RETURNS text LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    known customer%ROWTYPE;
BEGIN
    SELECT * INTO known FROM customer WHERE id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO customer (id, name, cpr_cvr, contact_type, email, phone, address,
                              characteristics_at)
        VALUES (p_id, p_name, coalesce(p_cpr_cvr, ''), coalesce(p_contact_type, 'Private'),
                p_email, p_phone, p_address, p_at);
        RETURN 'created';
    END IF;
    IF p_cpr_cvr IS NOT NULL AND known.cpr_cvr <> '' AND known.cpr_cvr <> p_cpr_cvr THEN
        RETURN 'other_cpr_cvr';
    END IF;
    IF known.characteristics_at IS NOT NULL AND known.characteristics_at > p_at THEN
        RETURN 'older';
    END IF;
    UPDATE customer SET name = p_name,
                        cpr_cvr = coalesce(p_cpr_cvr, cpr_cvr),
                        contact_type = coalesce(p_contact_type, contact_type),
                        email = coalesce(p_email, email),
                        phone = coalesce(p_phone, phone),
                        address = coalesce(p_address, address),
                        characteristics_at = p_at
     WHERE id = p_id;
    RETURN 'updated';
END
$$;
REVOKE EXECUTE ON FUNCTION lifecycle_customer_characteristics(uuid, text, text, text, text, text, text, timestamptz) FROM PUBLIC;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'elflow_ingest') THEN
        GRANT EXECUTE ON FUNCTION lifecycle_customer_characteristics(uuid, text, text, text, text, text, text, timestamptz) TO elflow_ingest;
    END IF;
END
$$;
