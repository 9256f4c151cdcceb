-- Period close: natural keys for re-importable reference data and indexes for settlement runs.

-- A price list row is identified by owner, code, type, start and grid area. Energinet's national
-- tariffs have no grid area; NULLS NOT DISTINCT makes a NULL grid area one key value, so
-- re-importing the same price list updates the row instead of adding a duplicate.
CREATE UNIQUE INDEX grid_tariff_natural_key
    ON grid_tariff (charge_owner_id, charge_code, tariff_type, valid_from, grid_area_code)
    NULLS NOT DISTINCT;
CREATE INDEX grid_tariff_lookup_idx ON grid_tariff (tariff_type, grid_area_code, valid_from);

CREATE UNIQUE INDEX subscription_natural_key
    ON subscription (type, charge_owner_id, charge_code, valid_from, grid_area_code)
    NULLS NOT DISTINCT;
CREATE INDEX subscription_lookup_idx ON subscription (type, grid_area_code, valid_from);

CREATE INDEX aconto_payment_contract_idx ON aconto_payment (contract_id, billing_period_id);
CREATE INDEX aconto_settlement_run_idx ON aconto_settlement (settlement_run_id);
CREATE INDEX settlement_line_contract_idx ON settlement_line (settlement_run_id, contract_id);
