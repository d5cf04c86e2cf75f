DROP TABLE mart.f_customer_retention;
