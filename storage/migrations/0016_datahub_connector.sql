-- The DataHub B2B connector (issue 11, flows.datahub).
-- DataHub's synchronous answer to a request we POSTed (`elflow datahub send`): the HTTP status,
-- and on a 400 its error code and message. NULL until the request has been answered; a request
-- with an answer is never sent again.
ALTER TABLE outbound_request
    ADD COLUMN datahub_http_status    integer,
    ADD COLUMN datahub_error_code     text,
    ADD COLUMN datahub_error_message  text,
    ADD COLUMN datahub_answered_at    timestamptz;

-- Least privilege: elflow_datahub (created by `elflow db roles`) stores a too-large document as
-- a dead letter (pull) and records DataHub's answer on the request and its event (send). It
-- reads no readings, master data, customers or money.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'elflow_datahub') THEN
        RAISE EXCEPTION 'role elflow_datahub does not exist: run `elflow db roles` with ELFLOW_ADMIN_DATABASE_URL first';
    END IF;
    EXECUTE format('REVOKE ALL ON DATABASE %I FROM elflow_datahub', current_database());
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO elflow_datahub', current_database());
    GRANT USAGE ON SCHEMA public TO elflow_datahub;
    GRANT INSERT ON dead_letter_message TO elflow_datahub;
    GRANT SELECT ON process_request, outbound_request, process_event TO elflow_datahub;
    GRANT UPDATE (status) ON process_request TO elflow_datahub;
    GRANT UPDATE (status, answered_at, datahub_http_status, datahub_error_code,
                  datahub_error_message, datahub_answered_at) ON outbound_request TO elflow_datahub;
    GRANT INSERT ON process_event TO elflow_datahub;
END
$$;
