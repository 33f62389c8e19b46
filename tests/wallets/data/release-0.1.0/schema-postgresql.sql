-- Braid 0.1.0 (before schema migrations): the tables `create_all` made on postgresql.
-- Frozen test data: the upgrade tests build 'a database of the previous release' from it.

CREATE TABLE braid_accounts (
	account_id BIGSERIAL NOT NULL, 
	tenant_id BIGINT, 
	kind VARCHAR(8) NOT NULL, 
	name VARCHAR(255) NOT NULL, 
	created BIGINT NOT NULL, 
	PRIMARY KEY (account_id)
);

CREATE INDEX ix_braid_accounts_tenant ON braid_accounts (tenant_id);

CREATE UNIQUE INDEX ux_braid_accounts_tenant_name ON braid_accounts (tenant_id, name);

CREATE TABLE braid_api_keys (
	api_key VARCHAR(64) NOT NULL, 
	account_id BIGINT NOT NULL, 
	tenant_id BIGINT NOT NULL, 
	secret_ct TEXT NOT NULL, 
	nonce VARCHAR(24) NOT NULL, 
	can_read BOOLEAN NOT NULL, 
	can_trade BOOLEAN NOT NULL, 
	ip_allowlist TEXT NOT NULL, 
	label VARCHAR(128) NOT NULL, 
	created BIGINT NOT NULL, 
	deleted BIGINT, 
	PRIMARY KEY (api_key)
);

CREATE INDEX ix_braid_api_keys_account ON braid_api_keys (account_id);

CREATE TABLE braid_balances (
	account_id BIGINT NOT NULL, 
	asset VARCHAR(16) NOT NULL, 
	free NUMERIC(38, 18) NOT NULL, 
	locked NUMERIC(38, 18) NOT NULL, 
	PRIMARY KEY (account_id, asset)
);

CREATE TABLE braid_orders (
	order_id BIGINT NOT NULL, 
	account_id BIGINT NOT NULL, 
	symbol VARCHAR(32) NOT NULL, 
	client_order_id VARCHAR(64) NOT NULL, 
	side VARCHAR(4) NOT NULL, 
	type VARCHAR(24) NOT NULL, 
	tif VARCHAR(4), 
	price NUMERIC(38, 18), 
	stop_price NUMERIC(38, 18), 
	orig_qty NUMERIC(38, 18), 
	orig_quote_qty NUMERIC(38, 18), 
	executed_qty NUMERIC(38, 18) NOT NULL, 
	cum_quote NUMERIC(38, 18) NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	time BIGINT NOT NULL, 
	update_time BIGINT NOT NULL, 
	route TEXT, 
	PRIMARY KEY (order_id)
);

CREATE INDEX ix_braid_orders_account_symbol ON braid_orders (account_id, symbol, order_id);

CREATE INDEX ix_braid_orders_open ON braid_orders (status) WHERE status IN ('PENDING_NEW', 'NEW', 'PARTIALLY_FILLED', 'PENDING_CANCEL');

CREATE UNIQUE INDEX ux_braid_orders_open_client_id ON braid_orders (account_id, client_order_id) WHERE status IN ('PENDING_NEW', 'NEW', 'PARTIALLY_FILLED', 'PENDING_CANCEL');

CREATE TABLE braid_postings (
	posting_id BIGINT NOT NULL, 
	transfer_id BIGINT NOT NULL, 
	ts BIGINT NOT NULL, 
	account_id BIGINT NOT NULL, 
	asset VARCHAR(16) NOT NULL, 
	bucket VARCHAR(6) NOT NULL, 
	kind VARCHAR(8) NOT NULL, 
	amount NUMERIC(38, 18) NOT NULL, 
	ref VARCHAR(64) NOT NULL, 
	PRIMARY KEY (posting_id)
);

CREATE INDEX ix_braid_postings_transfer ON braid_postings (transfer_id);

CREATE TABLE braid_sequences (
	name VARCHAR(32) NOT NULL, 
	value BIGINT NOT NULL, 
	PRIMARY KEY (name)
);

CREATE TABLE braid_tenants (
	tenant_id BIGSERIAL NOT NULL, 
	name VARCHAR(128) NOT NULL, 
	markup_rate NUMERIC(38, 18) NOT NULL, 
	broker_account_id BIGINT NOT NULL, 
	created BIGINT NOT NULL, 
	PRIMARY KEY (tenant_id), 
	UNIQUE (name)
);

CREATE TABLE braid_trades (
	trade_id BIGINT NOT NULL, 
	order_id BIGINT NOT NULL, 
	account_id BIGINT NOT NULL, 
	symbol VARCHAR(32) NOT NULL, 
	price NUMERIC(38, 18) NOT NULL, 
	qty NUMERIC(38, 18) NOT NULL, 
	quote_qty NUMERIC(38, 18) NOT NULL, 
	commission NUMERIC(38, 18) NOT NULL, 
	commission_asset VARCHAR(16) NOT NULL, 
	markup NUMERIC(38, 18) NOT NULL, 
	is_buyer BOOLEAN NOT NULL, 
	is_maker BOOLEAN NOT NULL, 
	time BIGINT NOT NULL, 
	source VARCHAR(16) NOT NULL, 
	source_ref VARCHAR(64) NOT NULL, 
	PRIMARY KEY (trade_id)
);

CREATE INDEX ix_braid_trades_account_symbol ON braid_trades (account_id, symbol, trade_id);

CREATE UNIQUE INDEX ux_braid_trades_source ON braid_trades (order_id, source, source_ref);
