-- elflow domain schema: every class of the DataHub 3 class diagram (shared seed 004), snake_case.
-- Quantities NUMERIC(18,3) kWh, prices NUMERIC(20,8), amounts NUMERIC(20,6) (invoices: øre),
-- timestamps timestamptz (UTC), local dates (Europe/Copenhagen) as date. No floats anywhere.

CREATE EXTENSION IF NOT EXISTS timescaledb;

-- ---------------------------------------------------------------- Portefølje
CREATE TABLE grid_area (
    code               text PRIMARY KEY CHECK (code ~ '^[0-9]{3}$'),
    grid_operator_gln  text NOT NULL CHECK (grid_operator_gln ~ '^[0-9]{13}$'),
    grid_operator_name text NOT NULL,
    -- Not in the diagram: the day-ahead price area the grid area lies in.
    price_area         text NOT NULL CHECK (price_area IN ('DK1', 'DK2'))
);

CREATE TABLE customer (
    id           uuid PRIMARY KEY,
    name         text NOT NULL,
    cpr_cvr      text NOT NULL,
    contact_type text NOT NULL CHECK (contact_type IN ('Private', 'Business')),
    email        text,
    phone        text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    status       text NOT NULL DEFAULT 'Active' CHECK (status IN ('Active', 'Inactive', 'Archived'))
);

CREATE TABLE metering_point (
    gsrn               text PRIMARY KEY CHECK (gsrn ~ '^[0-9]{18}$'),
    type               text NOT NULL CHECK (type IN ('E17_Consumption', 'E18_Production')),
    settlement_method  text NOT NULL CHECK (settlement_method IN ('Flex', 'NonProfiled')),
    connection_status  text NOT NULL CHECK (connection_status IN ('Connected', 'Disconnected', 'ClosedDown')),
    grid_area_code     text NOT NULL REFERENCES grid_area (code),
    grid_operator_gln  text NOT NULL CHECK (grid_operator_gln ~ '^[0-9]{13}$'),
    activated_at       timestamptz,
    deactivated_at     timestamptz,
    CHECK (deactivated_at IS NULL OR activated_at IS NULL OR deactivated_at >= activated_at)
);
CREATE INDEX metering_point_grid_area_idx ON metering_point (grid_area_code);

-- Supply and contract dates are local dates: supply starts at local midnight of start_date and
-- ends at local midnight of end_date (exclusive).
CREATE TABLE supply_period (
    id          uuid PRIMARY KEY,
    gsrn        text NOT NULL REFERENCES metering_point (gsrn),
    start_date  date NOT NULL,
    end_date    date,
    end_reason  text CHECK (end_reason IN ('SupplierSwitch', 'MoveOut', 'NonPayment')),
    CHECK (end_date IS NULL OR end_date > start_date),
    CHECK (end_reason IS NULL OR end_date IS NOT NULL)
);
CREATE INDEX supply_period_gsrn_idx ON supply_period (gsrn, start_date);

-- ---------------------------------------------------------------- Produkt
CREATE TABLE product (
    id                        uuid PRIMARY KEY,
    name                      text NOT NULL,
    energy_model              text NOT NULL CHECK (energy_model IN ('Spot', 'FixedPrice', 'Mixed')),
    margin_ore_per_kwh        numeric(20, 8) NOT NULL DEFAULT 0,
    supplement_ore_per_kwh    numeric(20, 8),
    subscription_kr_per_month numeric(20, 6) NOT NULL DEFAULT 0 CHECK (subscription_kr_per_month >= 0),
    binding_period_months     integer CHECK (binding_period_months >= 0),
    is_active                 boolean NOT NULL DEFAULT true,
    -- Not in the diagram: the fixed price of FixedPrice/Mixed products and the spot share of Mixed.
    fixed_price_ore_per_kwh   numeric(20, 8),
    spot_share                numeric(7, 6) CHECK (spot_share BETWEEN 0 AND 1),
    CHECK (energy_model <> 'FixedPrice' OR fixed_price_ore_per_kwh IS NOT NULL),
    CHECK (energy_model <> 'Mixed' OR (fixed_price_ore_per_kwh IS NOT NULL AND spot_share IS NOT NULL))
);

CREATE TABLE contract (
    id                 uuid PRIMARY KEY,
    customer_id        uuid NOT NULL REFERENCES customer (id),
    gsrn               text NOT NULL REFERENCES metering_point (gsrn),
    product_id         uuid NOT NULL REFERENCES product (id),
    billing_frequency  text NOT NULL CHECK (billing_frequency IN ('Monthly', 'Quarterly')),
    payment_model      text NOT NULL CHECK (payment_model IN ('Aconto', 'PostPayment')),
    payment_term_days  integer NOT NULL CHECK (payment_term_days BETWEEN 0 AND 365),
    start_date         date NOT NULL,
    end_date           date,
    CHECK (end_date IS NULL OR end_date > start_date)
);
CREATE INDEX contract_gsrn_idx ON contract (gsrn, start_date);
CREATE INDEX contract_customer_idx ON contract (customer_id);

-- ---------------------------------------------------------------- Måledata
-- Every version of every reading is kept (append-only); the current value of a
-- (metering point, timestamp) is the one with the latest created_at (DataHub's transaction
-- creation time). No foreign key to metering_point: a valid reading is never dropped because the
-- metering point's master data has not arrived yet.
CREATE TABLE metering_data (
    metering_point_id text NOT NULL CHECK (metering_point_id ~ '^[0-9]{18}$'),
    "timestamp"       timestamptz NOT NULL,
    resolution        text NOT NULL CHECK (resolution IN ('PT15M', 'PT1H', 'P1M')),
    -- NULL = missing (quality A02), never 0.
    quantity_kwh      numeric(18, 3) CHECK (quantity_kwh >= 0),
    -- DataHub's CIM quality codes as sent: A02 missing, A03 estimated, A04 measured,
    -- A05 incomplete, A06 calculated (see README for the mapping to the diagram's QualityCode).
    quality           text NOT NULL CHECK (quality IN ('A02', 'A03', 'A04', 'A05', 'A06')),
    source_message_id text NOT NULL,
    transaction_id    text NOT NULL,
    created_at        timestamptz NOT NULL,
    received_at       timestamptz NOT NULL DEFAULT now(),
    CHECK (quality <> 'A02' OR quantity_kwh IS NULL)
);
SELECT create_hypertable('metering_data', by_range('timestamp', INTERVAL '1 month'),
                         create_default_indexes => false);
-- The diagram's composite index; created_at makes "latest version first" an index scan.
CREATE INDEX metering_data_point_time_idx
    ON metering_data (metering_point_id, "timestamp", created_at DESC);

-- Per metering point per local date (Europe/Copenhagen), from the current readings only.
-- slot_kwh holds the day's current quantities in time order at the day's resolution
-- (92/96/100 quarter-hours or 23/24/25 hours); NULL elements are missing slots.
CREATE TABLE daily_summary (
    metering_point_id text NOT NULL,
    date              date NOT NULL,
    total_kwh         numeric(18, 3) NOT NULL CHECK (total_kwh >= 0),
    peak_kwh          numeric(18, 3) NOT NULL CHECK (peak_kwh >= 0),
    off_peak_kwh      numeric(18, 3) NOT NULL CHECK (off_peak_kwh >= 0),
    super_peak_kwh    numeric(18, 3) CHECK (super_peak_kwh >= 0),
    resolution        text NOT NULL CHECK (resolution IN ('PT15M', 'PT1H', 'mixed')),
    points_received   integer NOT NULL CHECK (points_received >= 0),
    points_expected   integer NOT NULL CHECK (points_expected > 0),
    missing_count     integer NOT NULL CHECK (missing_count >= 0),
    estimated_count   integer NOT NULL CHECK (estimated_count >= 0),
    slot_kwh          numeric(18, 3)[] NOT NULL,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (metering_point_id, date)
);
CREATE INDEX daily_summary_date_idx ON daily_summary (date);

-- ---------------------------------------------------------------- Satser
-- A charge from a price list: grid tariffs of a grid company (grid_area_code set) or Energinet's
-- national system/transmission tariffs (grid_area_code NULL).
CREATE TABLE grid_tariff (
    id              uuid PRIMARY KEY,
    grid_area_code  text REFERENCES grid_area (code),
    charge_owner_id text NOT NULL CHECK (charge_owner_id ~ '^[0-9]{13}$'),
    tariff_type     text NOT NULL CHECK (tariff_type IN ('GridTariff', 'SystemTariff', 'TransmissionTariff')),
    valid_from      timestamptz NOT NULL,
    valid_to        timestamptz,
    -- Not in the diagram: the charge's code and name as the price list carries them.
    charge_code     text NOT NULL,
    note            text,
    resolution      text NOT NULL DEFAULT 'PT1H' CHECK (resolution IN ('PT1H', 'P1D')),
    CHECK (valid_to IS NULL OR valid_to > valid_from),
    UNIQUE (charge_owner_id, charge_code, tariff_type, valid_from, grid_area_code)
);

CREATE TABLE tariff_rate (
    grid_tariff_id uuid NOT NULL REFERENCES grid_tariff (id) ON DELETE CASCADE,
    -- 1..24: hour_number 1 is 00-01 local time.
    hour_number    integer NOT NULL CHECK (hour_number BETWEEN 1 AND 24),
    price_per_kwh  numeric(20, 8) NOT NULL,
    PRIMARY KEY (grid_tariff_id, hour_number)
);

CREATE TABLE subscription (
    id                  uuid PRIMARY KEY,
    grid_area_code      text REFERENCES grid_area (code),
    type                text NOT NULL CHECK (type IN ('GridSubscription', 'SupplierSubscription')),
    amount_kr_per_month numeric(20, 6) NOT NULL CHECK (amount_kr_per_month >= 0),
    valid_from          timestamptz NOT NULL,
    valid_to            timestamptz,
    charge_owner_id     text,
    charge_code         text,
    CHECK (valid_to IS NULL OR valid_to > valid_from)
);

CREATE TABLE electricity_tax (
    id           uuid PRIMARY KEY,
    rate_per_kwh numeric(20, 8) NOT NULL CHECK (rate_per_kwh >= 0),
    valid_from   timestamptz NOT NULL UNIQUE,
    valid_to     timestamptz,
    CHECK (valid_to IS NULL OR valid_to > valid_from)
);

-- "hour" is the start of the price interval: a quarter-hour (PT15M) since 2025-10-01.
CREATE TABLE spot_price (
    price_area    text NOT NULL CHECK (price_area IN ('DK1', 'DK2')),
    hour          timestamptz NOT NULL,
    resolution    text NOT NULL CHECK (resolution IN ('PT15M', 'PT1H')),
    price_per_kwh numeric(20, 8) NOT NULL,
    PRIMARY KEY (price_area, hour, resolution)
);

-- ---------------------------------------------------------------- Afregning
CREATE TABLE billing_period (
    id           uuid PRIMARY KEY,
    period_start date NOT NULL,
    period_end   date NOT NULL,
    frequency    text NOT NULL CHECK (frequency IN ('Monthly', 'Quarterly')),
    CHECK (period_end > period_start),
    UNIQUE (period_start, period_end, frequency)
);

CREATE TABLE settlement_run (
    id                uuid PRIMARY KEY,
    billing_period_id uuid NOT NULL REFERENCES billing_period (id),
    executed_at       timestamptz NOT NULL DEFAULT now(),
    version           integer NOT NULL CHECK (version >= 1),
    status            text NOT NULL CHECK (status IN ('Running', 'Completed', 'Failed')),
    grid_area_code    text REFERENCES grid_area (code),
    finished_at       timestamptz,
    error_details     text,
    summary           jsonb,
    UNIQUE (billing_period_id, grid_area_code, version)
);

CREATE TABLE settlement_line (
    id                uuid PRIMARY KEY,
    settlement_run_id uuid NOT NULL REFERENCES settlement_run (id),
    metering_point_id text NOT NULL REFERENCES metering_point (gsrn),
    charge_type       text NOT NULL CHECK (charge_type IN ('Energy', 'GridTariff', 'SystemTariff',
                          'TransmissionTariff', 'ElectricityTax', 'GridSubscription', 'SupplierSubscription')),
    total_kwh         numeric(18, 3) NOT NULL,
    total_amount      numeric(20, 6) NOT NULL,
    vat_amount        numeric(20, 6) NOT NULL,
    contract_id       uuid REFERENCES contract (id),
    UNIQUE (settlement_run_id, metering_point_id, charge_type, contract_id)
);
CREATE INDEX settlement_line_point_idx ON settlement_line (metering_point_id);

CREATE TABLE aconto_payment (
    id                uuid PRIMARY KEY,
    contract_id       uuid NOT NULL REFERENCES contract (id),
    billing_period_id uuid NOT NULL REFERENCES billing_period (id),
    amount            numeric(20, 6) NOT NULL CHECK (amount >= 0),
    paid_at           timestamptz NOT NULL
);

CREATE TABLE aconto_settlement (
    id                uuid PRIMARY KEY,
    contract_id       uuid NOT NULL REFERENCES contract (id),
    billing_period_id uuid NOT NULL REFERENCES billing_period (id),
    actual_cost       numeric(20, 6) NOT NULL,
    aconto_paid       numeric(20, 6) NOT NULL,
    -- Positive = the customer owes, negative = the customer is owed.
    difference        numeric(20, 6) NOT NULL,
    new_aconto_amount numeric(20, 6) NOT NULL CHECK (new_aconto_amount >= 0),
    settlement_run_id uuid REFERENCES settlement_run (id),
    CHECK (difference = actual_cost - aconto_paid)
);

-- ---------------------------------------------------------------- Fakturering
CREATE TABLE invoice (
    id                uuid PRIMARY KEY,
    customer_id       uuid NOT NULL REFERENCES customer (id),
    billing_period_id uuid NOT NULL REFERENCES billing_period (id),
    type              text NOT NULL CHECK (type IN ('Standard', 'AcontoCombined', 'FinalSettlement',
                          'CreditNote', 'DebitNote')),
    issued_at         timestamptz,
    due_date          date,
    total_ex_vat      numeric(14, 2) NOT NULL,
    vat_amount        numeric(14, 2) NOT NULL,
    total_incl_vat    numeric(14, 2) NOT NULL,
    status            text NOT NULL DEFAULT 'Draft' CHECK (status IN ('Draft', 'Issued', 'Sent', 'Paid',
                          'Overdue', 'Cancelled')),
    settlement_run_id uuid REFERENCES settlement_run (id),
    corrects_invoice_id uuid REFERENCES invoice (id),
    CHECK (total_incl_vat = total_ex_vat + vat_amount),
    CHECK (status = 'Draft' OR issued_at IS NOT NULL)
);

CREATE TABLE invoice_line (
    id          uuid PRIMARY KEY,
    invoice_id  uuid NOT NULL REFERENCES invoice (id),
    charge_type text NOT NULL CHECK (charge_type IN ('Energy', 'GridTariff', 'SystemTariff',
                    'TransmissionTariff', 'ElectricityTax', 'GridSubscription', 'SupplierSubscription',
                    'Aconto')),
    description text NOT NULL,
    quantity    numeric(18, 3) NOT NULL,
    unit_price  numeric(20, 8) NOT NULL,
    amount      numeric(14, 2) NOT NULL
);
CREATE INDEX invoice_line_invoice_idx ON invoice_line (invoice_id);

-- ---------------------------------------------------------------- DataHubIntegration
CREATE TABLE inbound_message (
    id                  uuid PRIMARY KEY,
    data_hub_message_id text NOT NULL UNIQUE,
    message_type        text NOT NULL,
    correlation_id      text,
    queue_name          text NOT NULL,
    received_at         timestamptz NOT NULL DEFAULT now(),
    status              text NOT NULL CHECK (status IN ('Received', 'Parsed', 'Processed', 'DeadLettered')),
    error_details       text
);

CREATE TABLE outbound_request (
    id             uuid PRIMARY KEY,
    process_type   text NOT NULL,
    gsrn           text NOT NULL CHECK (gsrn ~ '^[0-9]{18}$'),
    sent_at        timestamptz NOT NULL,
    correlation_id text,
    status         text NOT NULL CHECK (status IN ('Sent', 'AcknowledgedOk', 'AcknowledgedError', 'TimedOut'))
);

-- Idempotency: a DataHub document (message_id) and each of its transactions (Series mRID) is
-- applied once, in the same database transaction as its readings.
CREATE TABLE processed_message_id (
    message_id     text NOT NULL,
    transaction_id text NOT NULL DEFAULT '',
    processed_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (message_id, transaction_id)
);

CREATE TABLE dead_letter_message (
    id                  uuid PRIMARY KEY,
    original_message_id text,
    queue_name          text NOT NULL,
    error_reason        text NOT NULL,
    -- The bytes exactly as received (they may not be valid UTF-8), so a replay sees the same input.
    raw_payload         bytea NOT NULL,
    failed_at           timestamptz NOT NULL DEFAULT now(),
    resolved            boolean NOT NULL DEFAULT false,
    reason_code         text NOT NULL,
    kafka_partition     integer,
    kafka_offset        bigint,
    resolved_at         timestamptz,
    UNIQUE (queue_name, kafka_partition, kafka_offset)
);
CREATE INDEX dead_letter_open_idx ON dead_letter_message (failed_at) WHERE NOT resolved;

-- ---------------------------------------------------------------- Livscyklus
CREATE TABLE process_request (
    id                       uuid PRIMARY KEY,
    type                     text NOT NULL CHECK (type IN ('SupplierSwitch', 'ShortNoticeSwitch', 'MoveIn',
                                 'EndOfSupply', 'ForcedEndOfSupply', 'MoveOut', 'CancelSwitch',
                                 'CancelEndOfSupply', 'IncorrectSwitch', 'IncorrectMove')),
    gsrn                     text NOT NULL CHECK (gsrn ~ '^[0-9]{18}$'),
    requested_at             timestamptz NOT NULL,
    effective_date           timestamptz,
    status                   text NOT NULL CHECK (status IN ('Pending', 'SentToDataHub', 'Acknowledged',
                                 'Rejected', 'EffectuationPending', 'Completed', 'Cancelled')),
    data_hub_correlation_id  text
);

-- Event sourcing: every state change is an immutable event.
CREATE TABLE process_event (
    id                 uuid PRIMARY KEY,
    process_request_id uuid NOT NULL REFERENCES process_request (id),
    occurred_at        timestamptz NOT NULL,
    event_type         text NOT NULL,
    payload            text NOT NULL
);
CREATE INDEX process_event_request_idx ON process_event (process_request_id, occurred_at);
