-- One row per file load, successful or not: the record of what was loaded.
-- depends: 0005.customer-retention

CREATE TABLE staging.load_log (
    load_id            bigint GENERATED ALWAYS AS IDENTITY,
    source             text          NOT NULL,
    file_name          text          NOT NULL,
    file_kind          varchar(20)   NOT NULL,
    load_kind          varchar(10)   NOT NULL,
    date_from          date,
    date_to            date,
    rows_read          bigint,
    rows_loaded        bigint,
    duplicates_dropped bigint,
    out_of_date_rows   bigint,
    checksum           char(64),
    status             varchar(10)   NOT NULL,
    error_message      text,
    started_at         timestamptz   NOT NULL,
    finished_at        timestamptz   NOT NULL,
    CONSTRAINT load_log_pkey PRIMARY KEY (load_id),
    CONSTRAINT load_log_file_kind_check
        CHECK (file_kind IN ('user_order_log', 'user_activity_log', 'customer_research', 'price_log')),
    CONSTRAINT load_log_load_kind_check CHECK (load_kind IN ('report', 'increment')),
    CONSTRAINT load_log_status_check CHECK (status IN ('success', 'failed')),
    CONSTRAINT load_log_error_message_check CHECK ((status = 'failed') = (error_message IS NOT NULL)),
    CONSTRAINT load_log_dates_check CHECK (date_from <= date_to)
);
COMMENT ON TABLE staging.load_log IS
    'one row per file load attempt; a failed load has a row here and no data in staging';
COMMENT ON COLUMN staging.load_log.source IS 'where the file came from: URL (without query string) or local path';
COMMENT ON COLUMN staging.load_log.date_from IS
    'first business day the load replaced (NULL: none, e.g. an empty report file or price_log)';
COMMENT ON COLUMN staging.load_log.rows_read IS 'data lines in the file';
COMMENT ON COLUMN staging.load_log.rows_loaded IS 'distinct rows written to staging';
COMMENT ON COLUMN staging.load_log.duplicates_dropped IS
    'lines that were identical copies of another line but for the id column';
COMMENT ON COLUMN staging.load_log.out_of_date_rows IS
    'distinct rows dated outside date_from..date_to, upserted by key';
COMMENT ON COLUMN staging.load_log.checksum IS 'sha256 of the file as received, hex';

CREATE INDEX load_log_started_at_idx ON staging.load_log (started_at);
