-- Every loaded business day with its numbers and what is unusual about it.
-- Every comparison is over the loaded days only: a day not loaded is no
-- evidence of anything. The volume baseline leaves out days without orders
-- (flagged themselves: they would drag the median down for four weeks).
-- The thresholds are the one row of mart.day_quality_settings.
CREATE VIEW reporting.day_quality AS
WITH days AS (
    SELECT l.business_day, l.delivered,
           coalesce(s.orders, 0) AS orders, coalesce(s.customers, 0) AS customers,
           coalesce(s.refunded_orders, 0) AS refunds, coalesce(s.net_revenue, 0) AS net_revenue,
           coalesce(s.item_ids, '{}') AS item_ids, coalesce(s.city_ids, '{}') AS city_ids
    FROM reporting.loaded_days AS l
    LEFT JOIN mart.f_daily_sales AS s ON s.date_id = to_char(l.business_day, 'YYYYMMDD')::integer
), first_seen AS (
    SELECT m.member_kind, m.member_id, min(d.business_day) AS first_day
    FROM days AS d
    -- the columns are named by the alias list m(...)
    CROSS JOIN LATERAL (SELECT 'item', unnest(d.item_ids)  -- noqa: AL03
                        UNION ALL
                        SELECT 'city', unnest(d.city_ids)) AS m(member_kind, member_id)  -- noqa: AL03
    GROUP BY m.member_kind, m.member_id
), history AS (
    SELECT d.*,
           array_agg(d.orders) FILTER (WHERE d.orders > 0) OVER same_weekday AS weekday_orders,
           sum(d.refunds) OVER previous_28_days AS trailing_refunds,
           sum(d.orders) OVER previous_28_days AS trailing_orders,
           min(d.business_day) OVER () AS first_loaded_day
    FROM days AS d
    WINDOW same_weekday AS (PARTITION BY extract(isodow FROM d.business_day) ORDER BY d.business_day
                            RANGE BETWEEN interval '28 days' PRECEDING AND interval '7 days' PRECEDING),
           previous_28_days AS (ORDER BY d.business_day
                                RANGE BETWEEN interval '28 days' PRECEDING AND interval '1 day' PRECEDING)
), measured AS (
    SELECT h.business_day, h.delivered, h.orders, h.customers, h.refunds, h.net_revenue,
           round(h.refunds::numeric / nullif(h.orders, 0), 4) AS refund_share,
           -- the first loaded day has nothing before it: everything would be new
           ARRAY(SELECT f.member_id FROM first_seen AS f
                 WHERE f.member_kind = 'item' AND f.first_day = h.business_day
                   AND h.business_day > h.first_loaded_day
                 ORDER BY f.member_id) AS new_item_ids,
           ARRAY(SELECT f.member_id FROM first_seen AS f
                 WHERE f.member_kind = 'city' AND f.first_day = h.business_day
                   AND h.business_day > h.first_loaded_day
                 ORDER BY f.member_id) AS new_city_ids,
           CASE WHEN cardinality(h.weekday_orders) >= s.volume_min_days THEN
               (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY w.orders)
                FROM unnest(h.weekday_orders) AS w(orders))::numeric
           END AS weekday_median,
           round(h.trailing_refunds::numeric / nullif(h.trailing_orders, 0), 4) AS trailing_refund_share,
           s.volume_low_ratio, s.volume_high_ratio, s.refund_share_ratio, s.refund_share_margin
    FROM history AS h
    CROSS JOIN mart.day_quality_settings AS s
)
SELECT m.business_day, m.delivered, m.orders, m.customers, m.refunds, m.refund_share, m.net_revenue,
       m.new_item_ids, m.new_city_ids, m.weekday_median, m.trailing_refund_share,
       array_remove(ARRAY[
           CASE WHEN m.delivered AND m.orders = 0 THEN 'no_orders' END,
           CASE WHEN m.orders < m.volume_low_ratio * m.weekday_median THEN 'low_volume' END,
           CASE WHEN m.orders > m.volume_high_ratio * m.weekday_median THEN 'high_volume' END,
           CASE WHEN m.refund_share > m.refund_share_ratio * m.trailing_refund_share
                     AND m.refund_share - m.trailing_refund_share > m.refund_share_margin THEN 'refund_burst' END,
           CASE WHEN m.new_item_ids <> '{}' THEN 'new_item' END,
           CASE WHEN m.new_city_ids <> '{}' THEN 'new_city' END], NULL) AS flags
FROM measured AS m;

COMMENT ON VIEW reporting.day_quality IS
    'one row per loaded business day (reporting.loaded_days) with its numbers and flags for what is unusual; '
    'thresholds in mart.day_quality_settings';
COMMENT ON COLUMN reporting.day_quality.business_day IS 'the day';
COMMENT ON COLUMN reporting.day_quality.delivered IS 'a successful load of an order file delivered the day';
COMMENT ON COLUMN reporting.day_quality.orders IS 'orders of the day, shipped and refunded';
COMMENT ON COLUMN reporting.day_quality.customers IS 'distinct customers with an order of the day';
COMMENT ON COLUMN reporting.day_quality.refunds IS 'refunded orders of the day';
COMMENT ON COLUMN reporting.day_quality.refund_share IS 'refunds / orders, 4 decimals; NULL without orders';
COMMENT ON COLUMN reporting.day_quality.net_revenue IS 'shipped less refunded amount of the day';
COMMENT ON COLUMN reporting.day_quality.new_item_ids IS
    'items with their first order on this day (none on the first loaded day)';
COMMENT ON COLUMN reporting.day_quality.new_city_ids IS
    'cities with their first order on this day (none on the first loaded day)';
COMMENT ON COLUMN reporting.day_quality.weekday_median IS
    'median orders of the loaded days with orders of the same weekday in the previous four weeks; NULL while '
    'fewer than volume_min_days of them';
COMMENT ON COLUMN reporting.day_quality.trailing_refund_share IS
    'refunds / orders over the loaded days of the previous 28 days, 4 decimals';
COMMENT ON COLUMN reporting.day_quality.flags IS
    'what is unusual, empty when nothing: no_orders (delivered without orders), low_volume / high_volume (orders '
    'below volume_low_ratio or above volume_high_ratio times weekday_median), refund_burst (refund_share above '
    'refund_share_ratio times trailing_refund_share and by more than refund_share_margin), new_item, new_city';
