DROP TABLE staging.load_log;
